
v
centcom-2024q1-invalid-country"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-14BZZXhx€ìê•ì1ˆ

centcom-2024q1-invalid-date"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-30BIQJAnbarRISFXhx€ìê•ì1ˆ

centcom-2024q1-invalid-future"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2031-01-01BIQJAnbarRISFXhx€ìê•ì1ˆ
‚
centcom-2024q1-invalid-count"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-14BIQJAnbarRISFXh€‰zx€ìê•ì1ˆ
|
centcom-2024q1-invalid-empty"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-14BIQJAnbarRISFx€ìê•ì1ˆ
Õ
centcom-2024q1-sy-003"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-09BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆì