"""A small FastAPI app, served on Lambda through Mangum (an adapter from API Gateway's events
to ASGI). Its state lives in the environment: a warm environment keeps its todos."""

from fastapi import FastAPI, HTTPException
from mangum import Mangum
from pydantic import BaseModel

app = FastAPI(title="todo")
TODOS: dict[int, dict[str, object]] = {}


class Todo(BaseModel):
    title: str
    done: bool = False


@app.get("/")
def index() -> dict[str, object]:
    return {"service": "todo", "todos": len(TODOS)}


@app.post("/todos", status_code=201)
def create(todo: Todo) -> dict[str, object]:
    todo_id = len(TODOS) + 1
    TODOS[todo_id] = {"id": todo_id, **todo.model_dump()}
    return TODOS[todo_id]


@app.get("/todos/{todo_id}")
def read(todo_id: int) -> dict[str, object]:
    if todo_id not in TODOS:
        raise HTTPException(status_code=404, detail="no such todo")
    return TODOS[todo_id]


handler = Mangum(app, lifespan="off")
