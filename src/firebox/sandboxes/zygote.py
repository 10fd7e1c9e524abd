"""A zygote: a pre-initialised interpreter that forks isolated execution environments.

Started once per runtime interpreter by the server, as root:
    python3.X -S -I zygote.py SANDBOXES_DIR RUNTIME_DIR SOCKET_FD [--rootless] [ENTER_LIBRARY]

It imports firebox's Python runtime, the isolation code and the commonly used standard library,
freezes the heap (gc.freeze, so children do not copy it on their first collection) and waits.
For each environment it forks a child that applies the launcher's isolation steps and then
starts the runtime in-process: no interpreter start-up, no imports, no exec. A `provided`
runtime is exec'd at the same point instead.

With firebox-reaper available (spec["reaper"]) the sandbox is built by it instead and the
zygote forks only the runtime into it (see builder.py); the launcher's Python steps are the
fallback without a C compiler.

Protocol (SOCK_SEQPACKET, one marshalled dict per message):
  server → zygote  {"op": "spawn", "id": N, "spec": {...}}  + fds [output, channel, seccomp]
                   (+ a network namespace made ahead, if spec["netns"]: builder.script())
  zygote → server  {"op": "spawned", "id": N, "pid": P}  or  {"op": "failed", "id": N, ...}
  zygote → server  {"op": "built", "pid": P}   (its runtime exists: the sandbox is complete)
  zygote → server  {"op": "exit", "pid": P, "status": S}   (the wait status, as os.wait gives it)
P is the environment's first process (its process group); S is its runtime's wait status.
Standard library only, Python 3.8+: it runs under every runtime's own interpreter.
"""

from __future__ import annotations

import array
import contextlib
import gc
import marshal
import os
import select
import signal
import socket
import sys

# What handlers commonly import, loaded once here instead of in every environment.
PRELOAD = (
    "json", "logging", "base64", "datetime", "decimal", "hashlib", "hmac", "uuid", "re",
    "collections", "dataclasses", "typing", "functools", "itertools", "traceback", "threading",
    "socket", "ssl", "http.client", "urllib.request", "urllib.parse", "email.utils", "zlib",
    "gzip", "io", "time", "random", "string", "struct", "tempfile", "copy", "math", "enum",
    # socket.getaddrinfo() runs every host name through this codec: ~4 ms on first use.
    "encodings.idna",
)  # fmt: skip


WARM_UP_HANDLER = "def handler(event, context):\n    return {'statusCode': 200, 'body': '{}'}\n"
WARM_UP_EVENT = {"version": "2.0", "rawPath": "/", "headers": {"host": "firebox"}, "body": "{}",
                 "requestContext": {"http": {"method": "GET", "path": "/"}}}  # fmt: skip


def warm_up(rounds: int = 40) -> None:
    """Runs firebox's runtime loop on canned events before gc.freeze(): the interpreter
    specialises the bytecode it runs (3.11 rewrites it in place), and this way it does so once
    here instead of in every environment's copy of these pages."""
    import json
    import types

    import firebox_runtime

    module = types.ModuleType("firebox_warm_up")
    exec(WARM_UP_HANDLER, module.__dict__)
    sys.modules[module.__name__] = module
    saved_path, saved_environ = sys.path[:], dict(os.environ)
    ours, theirs = socket.socketpair()
    body = json.dumps(WARM_UP_EVENT).encode()
    replies = []
    for i in range(rounds):
        replies.append(
            b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: warm-%d\r\n"
            b"Lambda-Runtime-Deadline-Ms: 9999999999999\r\n"
            b"Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:0:function:w\r\n"
            b"Lambda-Runtime-Trace-Id: Root=1-0-0;Sampled=0\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (i, len(body), body)
        )
        replies.append(b'HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{"status": "OK"}')
    theirs.sendall(b"".join(replies))
    theirs.shutdown(socket.SHUT_WR)  # then the runtime's next read ends its loop
    client = firebox_runtime.RuntimeClient.__new__(firebox_runtime.RuntimeClient)
    client._sock, client._host, client._buffer = ours, "127.0.0.1", b""
    os.environ["_HANDLER"] = "firebox_warm_up.handler"
    try:
        firebox_runtime.main(client)
    except ConnectionError:
        pass
    finally:
        ours.close()
        theirs.close()
        del sys.modules[module.__name__]
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_environ)
        firebox_runtime._RequestIdFilter.request_id = ""


def preload() -> None:
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


SYS_PATHS = ("executable", "_base_executable", "prefix", "exec_prefix", "base_prefix",
             "base_exec_prefix")  # fmt: skip
MOVES: dict = {}  # a spec's path_map (as a tuple) → moves_for()'s answer


def moves_for(path_map: dict) -> list:
    """The module paths a runtime child rewrites (host → inside), worked out in the zygote.

    Host paths are not visible inside: a /var/lang interpreter's stdlib moved. Modules the
    zygote imported remember where they came from, and packages look up submodules (e.g.
    encodings.idna) in their own __path__, so those move too, not just sys.path. Checking
    every module in each child cost ~2 ms per cold start; the answer is the same for every
    child of this zygote, so it is worked out once, before the first fork.
    """
    key = tuple(path_map.items())
    plan = MOVES.get(key)
    if plan is not None:
        return plan

    def moved(path: str) -> str:
        for host, inside in key:
            if path.startswith(host + "/"):
                return inside + path[len(host) :]
        return path

    plan = []
    for module in list(sys.modules.values()):
        package_path = getattr(module, "__path__", None)
        new_path = None
        if isinstance(package_path, list):
            new_path = [moved(p) for p in package_path]
            new_path = None if new_path == package_path else new_path
        file = getattr(module, "__file__", None)
        new_file = moved(file) if isinstance(file, str) else None
        new_file = None if new_file == file else new_file
        if new_path is not None or new_file is not None:
            plan.append((module, new_file, new_path))
    path = [moved(p) for p in sys.path]
    if plan or path != sys.path:
        plan.insert(0, (sys, None, path))
    for name in SYS_PATHS:  # sys.executable too: a handler may run it in a subprocess
        value = getattr(sys, name, None)
        if isinstance(value, str) and moved(value) != value:
            plan.append((sys, name, moved(value)))
    MOVES[key] = plan
    return plan


def run_python_runtime(spec: dict) -> None:
    """The last step inside the sandbox for Python runtimes: firebox's runtime, in-process."""
    import firebox_runtime
    import launcher

    plan = moves_for(spec.get("path_map", {}))  # (worked out before the fork: see spawn())
    for module, file, path in plan:
        if module is sys:
            if file is None:
                sys.path[:] = path
            else:
                setattr(sys, file, path)
            continue
        if path is not None:
            module.__path__[:] = path
        if file is not None:
            with contextlib.suppress(AttributeError, TypeError):
                module.__file__ = file
    if plan:
        sys.path_importer_cache.clear()
    sys.path[:] = [p for p in sys.path if not p.startswith(tuple(spec["drop_paths"]))]
    sys.path[:0] = spec["front_paths"]
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    client = None
    if spec.get("environ_fd") is not None and spec.get("runtime_api"):
        # Pre-built: set up and connect now (the kernel queues the connection until the
        # server serves the listener), then wait for the function.
        client = firebox_runtime.prepare(spec["runtime_api"])
    if spec.get("environ_fd") is not None:
        # Setting the function's environment first writes to heap pages still shared with
        # the zygote (copy-on-write faults: ~0.3 ms of a cold start). A pre-built sandbox
        # takes those faults now, while it waits, by setting and dropping a dummy one.
        os.environ.clear()
        os.environ.update({f"FIREBOX_WARM_{i}": "x" * 64 for i in range(48)})
        os.environ.clear()
    launcher.wait_for_environment(spec)  # a pre-built sandbox waits here for its function
    os.environ.clear()
    os.environ.update(spec["environ"])
    sys.argv[:] = ["/var/runtime/bootstrap.py"]
    firebox_runtime.main(client)


BUILDS: dict = {}  # builder or runtime pid → builder.Build
READY: dict = {}  # a build's ready pipe → builder.Build


def spawn(request: dict, fds: list, server: socket.socket) -> int:
    """Starts one environment; returns its first process (its own session and process group)."""
    import launcher

    expected = 4 if request["spec"].get("netns") else 3
    if len(fds) != expected:
        for fd in fds:
            os.close(fd)
        raise OSError(f"expected {expected} descriptors, got {len(fds)}")
    output, channel, seccomp, *rest = fds
    if request["spec"].get("argv") is None:  # a Python runtime, started in-process
        moves_for(request["spec"].get("path_map", {}))
    if request["spec"].get("reaper"):
        import builder

        try:
            build = builder.start(request["spec"], output, channel, seccomp, *rest)
        finally:
            os.close(channel)
        BUILDS[build.builder_pid] = build
        READY[build.ready] = build
        return build.builder_pid
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    if pid:
        for fd in fds:
            os.close(fd)
        return pid
    try:
        server.close()
        os.setsid()
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        for fd in (null, output):
            os.close(fd)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        keep = {0, 1, 2, channel, seccomp}
        for name in os.listdir("/proc/self/fd"):  # nothing of the zygote's leaks inside
            if int(name) not in keep:
                with contextlib.suppress(OSError):
                    os.close(int(name))
        spec = request["spec"]
        spec["channel_fd"] = channel
        spec["seccomp_fd"] = seccomp
        runner = run_python_runtime if spec.get("argv") is None else launcher.exec_runtime
        launcher.launch(spec, runner)
    except BaseException as exc:
        print(f"firebox zygote: {exc}", file=sys.stderr, flush=True)
    os._exit(126)


def send(server: socket.socket, message: dict) -> None:
    server.send(marshal.dumps(message))


def on_ready(fd: int, server: socket.socket) -> None:
    """The builder wrote pid 1's pid (fork the runtime, which waits for the root), then "R"
    once the root is built (the sandbox is complete); EOF instead: it gave up."""
    import builder
    import launcher

    build = READY[fd]
    chunk = os.read(fd, 64)
    build.buffer += chunk
    lines = build.buffer.split(b"\n")
    if not build.forked and len(lines) > 1:
        build.forked = True
        pid1 = int(lines[0]) if lines[0].isdigit() else 0
        if pid1 and build.builder_status is None:
            python = build.spec.get("argv") is None
            runner = run_python_runtime if python else launcher.exec_runtime
            try:
                build.runtime_pid = builder.fork_runtime(build, pid1, runner)
            except OSError as exc:
                print(f"firebox zygote: {exc}", file=sys.stderr, flush=True)
        if build.runtime_pid:
            BUILDS[build.runtime_pid] = build
        else:
            build.kill(signal.SIGKILL)
        build.close_fds(keep_ready=True)  # the runtime has its copies (the ready pipe stays)
    if chunk and len(lines) < 3:
        return  # the root is still being built
    del READY[fd]
    if build.runtime_pid and build.runtime_status is None and build.rooted():
        # The reserve may offer it now; the runtime's pid (its waiter's, rootless) lets the
        # server measure it where no cgroup does.
        send(server, {"op": "built", "pid": build.builder_pid, "runtime": build.runtime_pid})
    build.close_fds()  # the ready pipe too


def reap(server: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        build = BUILDS.pop(pid, None)
        if build is None:  # the launcher's way: one child per environment
            send(server, {"op": "exit", "pid": pid, "status": status})
            continue
        if pid == build.builder_pid:
            build.builder_status = status
        else:
            build.runtime_status = status
            if build.builder_status is None:
                # The monitor reports the memory it saw, then ends the sandbox.
                build.kill(signal.SIGTERM)
        if build.finished():
            if build.ready >= 0:
                READY.pop(build.ready, None)
                build.drain_ready()  # did the root get built? (status() depends on it)
            build.close_fds()
            send(server, {"op": "exit", "pid": build.builder_pid, "status": build.status()})


def main() -> None:
    sandboxes_dir, runtime_dir, fd = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sys.path[:0] = [sandboxes_dir, runtime_dir]
    options = sys.argv[4:]
    if "--rootless" in options:
        # Not root: the zygote lives in a user namespace of its own as its uid 0 (the server's
        # user outside), so the builders it spawns and the runtimes it forks may make and join
        # the sandboxes' namespaces; each runtime then goes one namespace deeper as 993.
        import launcher

        launcher.enter_user_namespace(0, 0)
        options.remove("--rootless")
    import ctypes

    libc = ctypes.CDLL(None)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # die with the server
    if os.getppid() == 1:
        os._exit(1)
    preload()
    import builder

    if options:  # libfirebox-enter, for sandboxes firebox-reaper builds
        builder.load(options[0])
    import firebox_runtime  # imported once here, used by every child

    firebox_runtime.setup_logging()
    import launcher

    try:
        warm_up()
    except Exception as exc:  # an optimisation only: the zygote works without it
        print(f"firebox zygote: warm-up failed: {exc!r}", file=sys.stderr, flush=True)
    server = socket.socket(fileno=fd)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    gc.collect()
    # The C heap's free pages back to the kernel (~0.7 MB after the imports): every fork
    # copies the page tables of what is left, so this makes each one ~8 % cheaper.
    getattr(libc, "malloc_trim", lambda pad: 0)(0)  # glibc only
    gc.freeze()  # children share these pages: a collection there must not touch them
    send(server, {"op": "ready", "pid": os.getpid()})
    while True:
        ready, _, _ = select.select([server, wake_read, *READY], [], [])
        for fd in ready:
            if fd in READY:
                on_ready(fd, server)
        if wake_read in ready:
            os.read(wake_read, 4096)
            reap(server)
        if server in ready:
            fds = array.array("i")
            data, ancdata, _flags, _addr = server.recvmsg(
                1 << 20, socket.CMSG_LEN(4 * fds.itemsize)
            )
            if not data:
                os._exit(0)  # the server went away
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:  # received descriptors are inheritable: none may leak to a builder
                os.set_inheritable(fd, False)
            request = marshal.loads(data)
            try:
                pid = spawn(request, list(fds), server)
                send(server, {"op": "spawned", "id": request["id"], "pid": pid})
                if not request["spec"].get("reaper"):  # the launcher forks its runtime itself
                    send(server, {"op": "built", "pid": pid})
            except OSError as exc:
                send(server, {"op": "failed", "id": request["id"], "error": str(exc)})
            reap(server)


if __name__ == "__main__":
    main()
