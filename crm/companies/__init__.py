"""Companies (投资方): one record per investor, duplicate detection across units, rulings."""
