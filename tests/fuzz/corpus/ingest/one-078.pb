
Ó
centcom-2024q1-sy-013"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-10BSYJHasakahRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆO