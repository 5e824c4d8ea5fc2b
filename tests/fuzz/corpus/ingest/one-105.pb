
|
centcom-2024q1-invalid-empty"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-14BIQJAnbarRISFx€ìê•ì1ˆj