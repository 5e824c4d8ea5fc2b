
Õ
centcom-2024q1-sy-027"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-27BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ]