

centcom-2024q1-invalid-date"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-30BIQJAnbarRISFXhx€ìê•ì1ˆf