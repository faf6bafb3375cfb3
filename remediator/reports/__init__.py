"""Reports for the first and last phases of the guide: which alerts are worth automating
(noise, candidates), and how the automation is doing (effectiveness, trends)."""
