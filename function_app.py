"""Function App entry point: composition only. Every trigger lives in a blueprint under ``triggers``."""

import azure.functions as func

from triggers.eventgrid import blueprint as eventgrid_blueprint
from triggers.http import blueprint as http_blueprint
from triggers.queue import blueprint as queue_blueprint
from triggers.timer import blueprint as timer_blueprint

app = func.FunctionApp()
for blueprint in (eventgrid_blueprint, http_blueprint, timer_blueprint, queue_blueprint):
    app.register_functions(blueprint)
