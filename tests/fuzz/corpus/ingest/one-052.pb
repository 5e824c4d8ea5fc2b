
Ò
centcom-2024q1-iq-053"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-13BIQJKirkukRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ5