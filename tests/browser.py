"""Um cliente mínimo do Chrome DevTools Protocol pelo ``--remote-debugging-pipe`` (só biblioteca padrão).

O Chromium lê comandos JSON do descritor 3 e escreve respostas e eventos no 4, cada
mensagem terminada por um byte nulo. Suficiente para abrir uma página, arrastar um
controle com o mouse e ler o resultado — o que os testes dos *widgets* estáticos fazem.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, path: str) -> None:
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()
        # o filho precisa dos descritores 3 (leitura) e 4 (escrita)
        def setup():  # no filho: os canais viram os descritores 3 e 4, herdáveis
            r, w = os.dup(to_child_r), os.dup(from_child_w)
            os.dup2(r, 3)
            os.dup2(w, 4)
        self.proc = subprocess.Popen(
            [path, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--user-data-dir=" + os.path.join(os.environ.get("TMPDIR", "/tmp"), f"cdp-{os.getpid()}"),
             "about:blank"],
            preexec_fn=setup, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._id = 0
        self.session = None

    def send(self, method: str, params: dict | None = None, *, timeout: float = 20.0) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_child_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            while b"\0" not in self._buf:
                chunk = os.read(self._from_child_r, 1 << 16)
                if not chunk:
                    raise RuntimeError("o Chromium fechou o canal de depuração")
                self._buf += chunk
            raw, self._buf = self._buf.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": url})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for _ in range(200):
            if self.eval("location.href + ' ' + document.readyState") == f"{url} complete":
                return
            time.sleep(0.05)
        raise TimeoutError(f"a página {url} não terminou de carregar")

    def eval(self, expression: str):
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"erro de JavaScript: {res['exceptionDetails']}")
        return res["result"].get("value")

    def drag(self, x0: float, y0: float, x1: float, y1: float, steps: int = 8) -> None:
        """Pressiona o botão em (x0, y0), arrasta até (x1, y1) e solta — como uma pessoa."""
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x0, "y": y0})
        self.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x0, "y": y0, "button": "left", "clickCount": 1})
        for i in range(1, steps + 1):
            x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
            self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y, "button": "left", "buttons": 1})
        self.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x1, "y": y1, "button": "left", "clickCount": 1})

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self._to_child_w)
        os.close(self._from_child_r)
