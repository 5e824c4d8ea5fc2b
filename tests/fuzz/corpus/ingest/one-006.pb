
Ü
centcom-2024q1-iq-007"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-09BIQJSalah al-DinRISFX`hx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ