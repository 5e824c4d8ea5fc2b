
Ô
centcom-2024q1-iq-039"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-23BIQJKirkukRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ'