

centcom-2024q1-invalid-future"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2031-01-01BIQJAnbarRISFXhx€לך•ל1ˆh