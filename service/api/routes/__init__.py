"""One APIRouter per resource; request and response schemas live next to their routes."""
