/* 招商 CRM: progressive enhancements (optional; every page works without JavaScript). */
