"""Units (the "townships" of DOMAIN.md): towns, subdistricts, the zone and bureaus."""
