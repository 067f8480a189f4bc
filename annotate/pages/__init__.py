"""HTML pages for the people who run a campaign; each module serves one page family.

Pages render shells that read the REST API, and resolve their project through
annotate.access (annotate.views._page_project), so missing or foreign objects are 404s
and pages a role may not see are 403s.
"""
