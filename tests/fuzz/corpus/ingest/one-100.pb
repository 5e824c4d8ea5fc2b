
v
centcom-2024q1-invalid-country"CENTCOM*-https://www.centcom.mil/MEDIA/PRESS-RELEASES/2
2024-02-14BZZXhx€ìê•ì1ˆe