#!/usr/bin/env python3
"""Renders every *.jinja here as transformers' apply_chat_template does (Jinja2, trim_blocks, lstrip_blocks,
raise_exception, tojson as json.dumps) for each conversation of conversations.json; writes renderings.json.
Run from this directory: python3 render_with_jinja2.py"""
import json, pathlib
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.exceptions import TemplateError


def raise_exception(message):
    raise TemplateError(message)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
env.globals["raise_exception"] = raise_exception
here = pathlib.Path(__file__).parent
cases = json.loads((here / "conversations.json").read_text())
out = []
for path in sorted(here.glob("*.jinja")):
    template = env.from_string(path.read_text())
    for case in cases:
        entry = {"template": path.name, "conversation": case["name"], "add_generation_prompt": case["add_generation_prompt"]}
        try:
            entry["rendered"] = template.render(messages=case["messages"], add_generation_prompt=case["add_generation_prompt"],
                                                bos_token="<s>", eos_token="</s>")
        except TemplateError as e:
            entry["error"] = str(e)
        except (TypeError, KeyError, AttributeError) as e:  # a template that cannot take this conversation
            entry["error"] = type(e).__name__
        out.append(entry)
(here / "renderings.json").write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
print(len(out), "renderings")
