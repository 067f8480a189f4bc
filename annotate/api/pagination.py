from rest_framework.pagination import PageNumberPagination

from annotate.errors import ValidationError


class Pagination(PageNumberPagination):
    """`?page=N&page_size=M` (at most 1000 a page)."""

    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_page_size(self, request):
        # A page_size that is not a whole number >= 1 is a 400 `bad_page_size`, as the
        # schema says, rather than silently the default.
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not (raw.isascii() and raw.isdigit() and int(raw) >= 1):
            raise ValidationError(
                "page_size: must be a whole number from 1 (at most 1000 are given)",
                code="bad_page_size",
            )
        return super().get_page_size(request)

    def get_schema_operation_parameters(self, view):
        # As the pagination reads them: pages and page sizes count from 1 (page 0 is a
        # 404 like a page past the end).
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] in (self.page_query_param, self.page_size_query_param):
                parameter["schema"]["minimum"] = 1
        return parameters
