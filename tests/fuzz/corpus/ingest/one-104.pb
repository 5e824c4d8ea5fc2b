
‚
centcom-2024q1-invalid-count"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-14BIQJAnbarRISFXh€‰zx€ìê•ì1ˆi