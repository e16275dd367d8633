"""The flood emergency mode (issue 20): the district's flood response levels and what each puts in force."""
