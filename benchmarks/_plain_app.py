"""The baseline: a plain FastAPI app (one uvicorn worker) calling ``model.predict``.

Run as ``python _plain_app.py MODEL.joblib PORT``. It parses the same JSON body as Ferry's
REST endpoint and builds the same pandas frame, but validates nothing.
"""

from __future__ import annotations

import sys

import joblib
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request

model = joblib.load(sys.argv[1])
app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> dict[str, list[int]]:
    body = await request.json()
    return {"predictions": model.predict(pd.DataFrame(body["inputs"])).tolist()}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
                access_log=False)
