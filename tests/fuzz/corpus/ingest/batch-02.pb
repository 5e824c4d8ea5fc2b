
Ò
centcom-2024q1-iq-051"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-10BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-052"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-12BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-053"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-13BIQJKirkukRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-054"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-14BIQJAnbarRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-055"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-16BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-056"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-17BIQJNinawaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-057"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-18BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-058"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-20BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-059"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-21BIQJNinawaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-060"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-23BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-061"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-24BIQJKirkukRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-062"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-25BIQJNinawaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-063"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-27BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-064"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-28BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-065"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-29BIQJNinawaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ö
centcom-2024q1-iq-066"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-31BIQJKirkukRISFX`hx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ù
centcom-2024q1-sy-001"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-02BSYJDeir ez-ZorRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-002"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-05BSYJRaqqaRSDFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-003"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-09BSYJHasakahRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Õ
centcom-2024q1-sy-004"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-12BSYJHasakahRSDFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-sy-005"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-15BSYJRaqqaRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ù
centcom-2024q1-sy-006"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-18BSYJDeir ez-ZorRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Õ
centcom-2024q1-sy-007"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-22BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Õ
centcom-2024q1-sy-008"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-25BSYJHasakahRSDFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
×
centcom-2024q1-sy-009"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-01-28BSYJDeir ez-ZorRSDFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆê