"""The weekly 红黄蓝 bulletin (通报): unit ranking and project colours; page, .xlsx, big screen."""
