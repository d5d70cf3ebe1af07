from rest_framework.renderers import BaseRenderer, JSONRenderer

from ..csv_export import pilot_csv


class PilotCsvRenderer(BaseRenderer):
    """`?format=csv` on the pilot table; an error answer stays JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and response.status_code >= 400:
            response["Content-Type"] = "application/json"
            return JSONRenderer().render(data)
        response["Content-Disposition"] = 'attachment; filename="pilot-table.csv"'
        return pilot_csv(data["results"]).encode()
