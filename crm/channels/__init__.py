"""WeCom (企业微信) and DingTalk (钉钉) group robots: channels, their messages and delivery."""
