"""`layerfs build`: a Dockerfile and a context directory → an image in the store.

Layers and history as BuildKit makes them: one layer per RUN, COPY and ADD; every other
instruction adds a history entry with `empty_layer: true` and changes only the config.
Each step goes through the cache (cache.py): a HIT reuses the recorded result, a MISS
runs the step and records it; `StepReport`s say which and why (explain.py).

Only the stages the target needs are built (`--target`, default the last stage). With
SOURCE_DATE_EPOCH set, history and config times and layer mtimes are clamped to it, so
two builds from clean stores give the same image digest. The whole build runs under one
ingest (lease): a failed build leaves no image, but the steps that finished stay cached.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from layerfs.build import copy as copying
from layerfs.build import filesteps, stages
from layerfs.build.args import ArgScope, global_scope, unused_build_args
from layerfs.build.cache import BuildCache, LayerRef, StepInputs, StepResult
from layerfs.build.context import ContextTree, SourceTree, UnionTree, expand_sources
from layerfs.build.explain import ERROR, HIT, MISS, StepReport, explain_miss
from layerfs.build.ignore import IgnoreMatcher, load_ignore_file
from layerfs.build.instructions import DEFAULT_SHELL, METADATA, apply_metadata, fail
from layerfs.build.output import check_layer_count, drop_unused_blobs, write_image
from layerfs.build.owner import resolve_owner
from layerfs.build.parser import Instruction, parse
from layerfs.build.run import ContainerExecutor, Output, RunExecutor, RunRequest
from layerfs.build.squash import squash
from layerfs.build.words import expand_word, split_words, substitute
from layerfs.errors import InvalidInput, LayerfsError, NotFound
from layerfs.oci.config import ImageConfig
from layerfs.oci.history import HistoryEntry
from layerfs.oci.platform import Platform
from layerfs.runtime.spec import DEFAULT_PATH
from layerfs.store.commit import created_now
from layerfs.store.records import ImageRecord
from layerfs.store.store import Store

COPY_FLAGS = {"COPY": {"from", "chown", "chmod", "link"},
              "ADD": {"chown", "chmod", "link", "checksum", "keep-git-dir"},
              "RUN": {"network"}}


@dataclass(frozen=True)
class BuildOptions:
    """What to build: `context` dir, `dockerfile` (default `<context>/Dockerfile`)."""

    context: str
    dockerfile: str | None = None
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict, hash=False)
    target: str | None = None
    no_cache: bool = False
    squash: bool = False
    network: str = "none"


@dataclass(frozen=True)
class BuildResult:
    image: ImageRecord
    steps: tuple[StepReport, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class _State:
    stage: stages.Stage
    result: StepResult
    key: str
    args: ArgScope
    missed: bool
    base_layers: int
    cmd_set: bool = False


def _sde() -> int | None:
    value = os.environ.get("SOURCE_DATE_EPOCH")
    return int(value) if value and value.isdigit() else None


def build(store: Store, options: BuildOptions, *,
          on_step: Callable[[StepReport], None] | None = None,
          on_output: Output | None = None,
          executor: RunExecutor | None = None) -> BuildResult:
    """Build and tag the image; InvalidInput/DockerfileError for a bad Dockerfile or
    context, BuildFailed when a RUN fails. `on_step` sees each step's report as it ends,
    `on_output` the output of RUN commands."""
    return _Builder(store, options, on_step, on_output, executor).run()


class _Builder:
    def __init__(self, store: Store, options: BuildOptions,
                 on_step: Callable[[StepReport], None] | None, on_output: Output | None,
                 executor: RunExecutor | None) -> None:
        self.store = store
        self.opts = options
        self.on_step = on_step or (lambda r: None)
        self.on_output = on_output or (lambda b: None)
        self.executor = executor or ContainerExecutor()
        self.cache = BuildCache(store, enabled=not options.no_cache)
        self.reports: list[StepReport] = []
        self.warnings: list[str] = []
        self.done: dict[int, _State] = {}
        self.used_args: set[str] = set()

    # ------------------------------------------------------------------ top level

    def run(self) -> BuildResult:
        path = self.opts.dockerfile or os.path.join(self.opts.context, "Dockerfile")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise NotFound(f"Dockerfile {path}: no such file") from None
        df = parse(text, os.path.basename(path))
        self.escape = df.escape
        plan = stages.split(df)
        scope = global_scope(self.opts.build_args)
        for ins in plan.global_args:
            scope = self._declare(scope, ins)
        self.globals = scope
        target = plan.stages[-1]
        if self.opts.target:
            found = plan.find(self.opts.target)
            if found is None:
                raise InvalidInput(f"target stage {self.opts.target!r} could not be found")
            target = found
        self.plan = plan
        matcher = IgnoreMatcher(load_ignore_file(self.opts.context, self.opts.dockerfile))
        self.context = ContextTree(self.opts.context, matcher)
        filesteps.reap_stale_steps(self.store)
        with self.store.ingest() as ingest:
            self.ctx = filesteps.LayerContext(self.store, ingest, _sde(), self.on_output)
            for stage in stages.needed(plan, target, scope.expansion_env(), self.escape):
                self.done[stage.index] = self._stage(stage)
            final = self.done[target.index]
            result = final.result
            if self.opts.squash:
                result = squash(self.ctx, result, final.base_layers)
            warning = check_layer_count(len(result.layers))
            if warning:
                self.warnings.append(warning)
            image = write_image(self.store, ingest, result, self.opts.tags)
            made = [lr for st in self.done.values() for lr in st.result.layers]
            drop_unused_blobs(self.store, ingest, [*made, *final.result.layers], result)
        unused = unused_build_args(self.opts.build_args, self.used_args)
        if unused:
            self.warnings.append(f"one or more build args were not consumed: {unused}")
        return BuildResult(image, tuple(self.reports), tuple(self.warnings))

    def _declare(self, scope: ArgScope, ins: Instruction) -> ArgScope:
        for word in split_words(ins.rest, scope.expansion_env(), self.escape):
            name, eq, default = word.partition("=")
            scope = scope.declare(name, default if eq else None)
            self.used_args.add(name)
        return scope

    # ------------------------------------------------------------------ one stage

    def _stage(self, stage: stages.Stage) -> _State:
        state = self._from(stage)
        triggers = state.result.config.config.onbuild
        if triggers:
            # docker runs the base's ONBUILD triggers right after FROM; the new image
            # does not inherit them
            config = state.result.config.with_config(onbuild=())
            state = replace(state, result=StepResult(config, state.result.layers))
            for ins in parse("\n".join(triggers), f"ONBUILD of {stage.base}").instructions:
                state = self._instruction(state, ins)
        for ins in stage.instructions:
            state = self._instruction(state, ins)
        return state

    def _from(self, stage: stages.Stage) -> _State:
        ref = expand_word(stage.base, self.globals.expansion_env(), self.escape)
        site = StepInputs("", "FROM-SITE", ref).key()
        dep = self.plan.find(ref)
        if dep is not None and dep.index in self.done:
            base = self.done[dep.index]
            text, result = base.key, base.result
        elif ref == "scratch":
            host = Platform.host()
            text = "scratch"
            result = StepResult(ImageConfig(host.architecture, host.os, variant=host.variant), ())
        else:
            image = self.store.image(ref)
            text = str(image.id)
            layers = tuple(LayerRef(sl.chain_id, sl.diff_id(), sl.digest(), sl.size(),
                                    sl.media_type()) for sl in image.store_layers())
            result = StepResult(image.config(), layers)
        cc = result.config.config
        if "PATH" not in cc.env_dict():  # BuildKit and buildah give every image a PATH
            config = result.config.with_config(env=(f"PATH={DEFAULT_PATH}", *cc.env))
            result = StepResult(config, result.layers)
        inputs = StepInputs(site, "FROM", text)
        started = time.monotonic()
        missed = self.cache.lookup(inputs.key()) is None
        if missed:
            reason, details = explain_miss(self.cache, inputs, False)
            self.cache.record(inputs, result)
        report = StepReport(stage.label, len(self.reports) + 1, stage.origin.original,
                            MISS if missed else HIT, reason if missed else "", details if missed
                            else {}, time.monotonic() - started)
        self._report(report)
        args = self.globals.stage_scope()
        return _State(stage, result, inputs.key(), args, missed, len(result.layers))

    def _report(self, report: StepReport) -> None:
        self.reports.append(report)
        self.on_step(report)

    def _step(self, state: _State, ins: Instruction, inputs: StepInputs,
              produce: Callable[[], StepResult]) -> _State:
        """Look the step up; on a miss run `produce` and record it; report either way."""
        started = time.monotonic()
        key = inputs.key()
        cached = self.cache.lookup(key)
        if cached is not None:
            result, status, reason, details = cached, HIT, "", {}
        else:
            reason, details = explain_miss(self.cache, inputs, state.missed)
            try:
                result, status = produce(), MISS
            except LayerfsError as e:
                self._report(StepReport(state.stage.label, len(self.reports) + 1, ins.original,
                                        ERROR, str(e), details, time.monotonic() - started))
                raise
            self.cache.record(inputs, result)
        self._report(StepReport(state.stage.label, len(self.reports) + 1, ins.original, status,
                                reason, details, time.monotonic() - started))
        return replace(state, result=result, key=key, missed=status == MISS)

    # ------------------------------------------------------------------ instructions

    def _env(self, state: _State) -> dict[str, str]:
        return state.args.expansion_env(state.result.config.config.env_dict())

    def _instruction(self, state: _State, ins: Instruction) -> _State:
        allowed = COPY_FLAGS.get(ins.keyword, set())
        for name, _ in ins.flags:
            if name not in allowed and ins.keyword != "HEALTHCHECK":
                raise fail(ins, f"unknown flag: --{name}")
        if ins.keyword == "ARG":
            # as docker: a new value changes no config and no history (which shows the
            # definition); it reaches the cache through what uses it - RUN's scope and
            # the expanded text of other instructions - which then say "arg X changed"
            state = replace(state, args=self._declare(state.args, ins))
            text = "ARG " + " ".join(ins.rest.split())
            return self._step(state, ins, StepInputs(state.key, "ARG", text),
                              lambda: self._history(state.result, text))
        if ins.keyword in METADATA:
            config, text = apply_metadata(ins, state.result.config, self._env(state),
                                          self.escape, state.cmd_set)
            new = replace(state, cmd_set=state.cmd_set or ins.keyword == "CMD")
            return self._step(new, ins, StepInputs(state.key, ins.keyword, text),
                              lambda: self._history(StepResult(config, state.result.layers), text))
        if ins.keyword == "RUN":
            return self._run(state, ins)
        if ins.keyword in ("COPY", "ADD"):
            return self._copy(state, ins)
        raise fail(ins, "unexpected instruction")

    @staticmethod
    def _history(result: StepResult, text: str) -> StepResult:
        created = created_now()
        config = result.config.with_history(
            HistoryEntry(created=created, created_by=text, comment="layerfs build",
                         empty_layer=True)).replace(created=created)
        return StepResult(config, result.layers)

    def _run(self, state: _State, ins: Instruction) -> _State:
        cc = state.result.config.config
        shell = cc.shell or DEFAULT_SHELL
        if ins.heredocs:
            first = ins.heredocs[0]
            only = ins.rest.strip() == f"<<{'-' if first.chomp else ''}{first.name}"
            script = first.content if only and len(ins.heredocs) == 1 else (
                ins.rest + "\n" + "".join(f"{h.content}{h.name}\n" for h in ins.heredocs))
            argv: tuple[str, ...] = (*shell, script)
        elif ins.exec_args is not None:
            argv = ins.exec_args
        else:
            argv = (*shell, ins.rest)
        network = ins.flag("network") or self.opts.network
        if network not in ("none", "host", "default"):
            raise fail(ins, f"--network={network}: only none and host are supported")
        network = "none" if network == "default" else network
        env = {**state.result.config.config.env_dict(), **state.args.run_env()}
        self.used_args.update(state.args.values)
        shown = " ".join(argv) if ins.exec_args is None else json.dumps(list(argv))
        scope = state.args.cache_scope()
        pairs = " ".join(f"{k}={v}" for k, v in scope.items())
        args = f"|{len(scope)} {pairs} " if scope else ""
        created_by = f"RUN {args}{shown} # buildkit"  # BuildKit's form, build args first
        text = f"RUN {json.dumps(list(argv))}" + (f" --network={network}" if network == "host"
                                                   else "")
        inputs = StepInputs(state.key, "RUN", text, state.args.cache_scope())
        request = RunRequest("", argv, tuple(f"{k}={v}" for k, v in env.items()),
                             cc.working_dir or "/", cc.user, network)
        return self._step(state, ins, inputs, lambda: filesteps.run_step(
            self.ctx, state.result, self.executor, request, created_by))

    def _source_tree(self, state: _State, ins: Instruction) -> tuple[SourceTree, bool]:
        ref = ins.flag("from")
        if not ref:
            return self.context, False
        ref = expand_word(ref, self._env(state), self.escape)
        dep = self.plan.find(ref)
        if dep is not None:
            layers = self.done[dep.index].result.layers
        else:
            layers = tuple(LayerRef(sl.chain_id, sl.diff_id(), sl.digest(), sl.size(),
                                    sl.media_type())
                           for sl in self.store.image(ref).store_layers())
        dirs = [self.store.paths.layer_diff(lr.chain_id) for lr in reversed(layers)]
        return UnionTree(dirs, f"stage {ref}"), True

    def _copy(self, state: _State, ins: Instruction) -> _State:
        env = self._env(state)
        if ins.heredocs:
            words = split_words(ins.rest, env, self.escape)
            dest_arg = words[-1]
            root = filesteps.heredoc_files(self.ctx, [
                (h.name, substitute(h.content, env, self.escape) if h.expand else h.content)
                for h in ins.heredocs])
            tree: SourceTree = ContextTree(root)
            srcs, keep_owner = [h.name for h in ins.heredocs], False
        else:
            words = list(ins.exec_args) if ins.exec_args is not None else split_words(
                ins.rest, env, self.escape)
            if len(words) < 2:
                raise fail(ins, "requires at least two arguments")
            srcs, dest_arg = words[:-1], words[-1]
            for s in srcs:
                if ins.keyword == "ADD" and filesteps.is_url(s):
                    raise filesteps.refuse_url(s)
            tree, keep_owner = self._source_tree(state, ins)
        workdir = state.result.config.config.working_dir or "/"
        dest = dest_arg if dest_arg.startswith("/") else os.path.join(workdir, dest_arg)
        if dest_arg.endswith(("/", "/.", "/..")) or dest_arg in (".", ".."):
            dest = os.path.normpath(dest) + "/"  # docker: a directory
        if dest_arg.endswith("/") and not dest.endswith("/"):
            dest += "/"
        parent_view = filesteps.union_of(self.ctx, state.result, writable=False)
        chown = ins.flag("chown")
        opts = copying.CopyOptions(
            owner=resolve_owner(parent_view, expand_word(chown, env, self.escape))
            if chown else None,
            chmod=copying.parse_chmod(ins.flag("chmod")),
            keep_owner=keep_owner,
            extract_tars=ins.keyword == "ADD",
        )
        sources = expand_sources(tree, srcs)
        items = copying.plan(tree, sources, dest, lambda p: copying.is_dir(parent_view, p),
                             opts, (self.ctx.source_date_epoch or int(time.time())) * 10**9)
        files = copying.describe(items)
        flags = " ".join(f"--{k}={v}" for k, v in ins.flags)
        text = f"{ins.keyword} {flags + ' ' if flags else ''}{json.dumps(srcs)} {dest}"
        created_by = f"{ins.original} # buildkit"
        inputs = StepInputs(state.key, ins.keyword, text, {}, files)
        return self._step(state, ins, inputs, lambda: filesteps.copy_step(
            self.ctx, state.result, items, created_by))

