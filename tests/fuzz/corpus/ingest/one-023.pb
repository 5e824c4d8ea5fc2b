
Ñ
centcom-2024q1-iq-024"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-02BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ