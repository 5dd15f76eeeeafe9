"""Function App entry point: composition only. Every trigger lives in a blueprint under ``triggers``."""

import azure.functions as func

from triggers.eventgrid import blueprint as eventgrid_blueprint
from triggers.http import blueprint as http_blueprint
from triggers.timer import blueprint as timer_blueprint

app = func.FunctionApp()
app.register_functions(eventgrid_blueprint)
app.register_functions(http_blueprint)
app.register_functions(timer_blueprint)
