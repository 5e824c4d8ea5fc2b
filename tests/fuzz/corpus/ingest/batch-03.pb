
Ó
centcom-2024q1-sy-010"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-31BSYJRaqqaRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-011"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-04BSYJRaqqaRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-sy-012"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-07BSYJRaqqaRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-013"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-10BSYJHasakahRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-014"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-13BSYJRaqqaRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Õ
centcom-2024q1-sy-015"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-17BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-016"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-20BSYJRaqqaRSDFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
×
centcom-2024q1-sy-017"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-23BSYJDeir ez-ZorRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Û
centcom-2024q1-sy-018"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-26BSYJDeir ez-ZorRSDFX`hx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Õ
centcom-2024q1-sy-019"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-01BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
×
centcom-2024q1-sy-020"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-04BSYJDeir ez-ZorRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-021"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-07BSYJHasakahRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Õ
centcom-2024q1-sy-022"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-10BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-023"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-14BSYJRaqqaRSDFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-sy-024"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-17BSYJRaqqaRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-025"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-20BSYJRaqqaRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-026"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-23BSYJRaqqaRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Õ
centcom-2024q1-sy-027"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-27BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-028"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-30BSYJRaqqaRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-001"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-01BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ù
centcom-2024q1-sy-001"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-02BSYJDeir ez-ZorRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Þ
centcom-2024q1-iq-003"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-04BIQJSalah al-DinRISFX`hx€ìê•ì1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
×
centcom-2024q1-sy-002"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-05BSYJRaqqaRSDFX`x€ìê•ì1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-002"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-03BIQJDiyalaRISFXx€ìê•ì1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ú
centcom-2024q1-iq-003"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-04BIQJSalah al-DinRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆë