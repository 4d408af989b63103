"""Units (called "townships" in the code): towns, subdistricts, the zone and bureaus."""
