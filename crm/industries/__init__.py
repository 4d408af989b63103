"""The managed industry list (产业目录): industries by 产业链, their aliases, and sorting 待归类."""
