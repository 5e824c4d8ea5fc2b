
Ô
centcom-2024q1-iq-001"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-01BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-002"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-03BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ú
centcom-2024q1-iq-003"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-04BIQJSalah al-DinRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ö
centcom-2024q1-iq-004"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-05BIQJDiyalaRISFX`hx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-005"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-07BIQJKirkukRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-006"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-08BIQJAnbarRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ü
centcom-2024q1-iq-007"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-09BIQJSalah al-DinRISFX`hx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-008"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-11BIQJNinawaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-009"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-12BIQJNinawaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-010"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-14BIQJAnbarRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-011"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-15BIQJKirkukRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-012"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-16BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ø
centcom-2024q1-iq-013"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-18BIQJSalah al-DinRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-014"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-19BIQJNinawaRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-015"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-20BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-016"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-22BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ú
centcom-2024q1-iq-017"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-23BIQJSalah al-DinRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-018"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-25BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-019"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-26BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ú
centcom-2024q1-iq-020"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-27BIQJSalah al-DinRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-021"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-29BIQJDiyalaRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ú
centcom-2024q1-iq-022"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-30BIQJSalah al-DinRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-023"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-01BIQJAnbarRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-024"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-02BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-025"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-03BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆè