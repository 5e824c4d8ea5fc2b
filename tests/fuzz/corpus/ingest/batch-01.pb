
Ò
centcom-2024q1-iq-026"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-05BIQJNinawaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-027"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-06BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-028"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-07BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ú
centcom-2024q1-iq-029"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-09BIQJSalah al-DinRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-030"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-10BIQJKirkukRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-031"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-12BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-032"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-13BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ø
centcom-2024q1-iq-033"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-14BIQJSalah al-DinRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-034"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-16BIQJAnbarRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ö
centcom-2024q1-iq-035"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-17BIQJDiyalaRISFX`hx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-036"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-18BIQJAnbarRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ñ
centcom-2024q1-iq-037"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-20BIQJAnbarRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-038"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-21BIQJDiyalaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-039"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-23BIQJKirkukRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-040"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-24BIQJAnbarRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-041"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-25BIQJNinawaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-042"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-27BIQJNinawaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-043"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-28BIQJNinawaRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ú
centcom-2024q1-iq-044"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-29BIQJSalah al-DinRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-045"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-02BIQJKirkukRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-046"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-03BIQJDiyalaRISFX`x€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-047"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-05BIQJKirkukRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ó
centcom-2024q1-iq-048"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-06BIQJAnbarRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ò
centcom-2024q1-iq-049"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-07BIQJDiyalaRISFXx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆ
Ô
centcom-2024q1-iq-050"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-03-09BIQJKirkukRISFXhx€ä¸õé1‚Willustrative row: per-operation split built to match CENTCOM's published Q1 2024 totalsˆé