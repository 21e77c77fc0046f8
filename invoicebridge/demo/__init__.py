"""`make demo` (`run`) and the sample orders it shows (`scenes`)."""
