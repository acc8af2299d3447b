"""Tenants: tenant → package → event, with what each one runs and what failed to load."""

from __future__ import annotations

import json
from collections.abc import Iterator

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Static, Tree

from jobico.cli.visible import visible
from tui import fmt
from tui.screens.base import DashScreen
from tui.source import Catalog, EventInfo, PackageInfo
from tui.widgets.filter_bar import matches

REFRESH_S = 2.0
Node = str | PackageInfo | EventInfo


def package_detail(pkg: PackageInfo) -> RenderableType:
    lines = [Text.assemble(("package ", "bold"), pkg.package, ("  tenant ", "bold"), pkg.tenant),
             Text(f"file {pkg.file}   version {pkg.version or fmt.DASH}"),
             Text(f"events {', '.join(e.event for e in pkg.events) or fmt.DASH}")]
    lines += [Text(f"✗ {visible(str(err))}", style="bold red") for err in pkg.errors]  # tenants name files
    return Group(*lines)


def event_detail(info: EventInfo, version: str | None) -> RenderableType:
    return Group(
        Text.assemble(("event ", "bold"), info.event, ("  package ", "bold"), info.package,
                      ("  version ", "bold"), version or fmt.DASH),
        Text(f"schema  {info.schema_file or '(inline)'}"),
        Text(f"wasm    {info.wasm}   {fmt.size(info.size)}   ABI {info.abi}"),
        Text(f"sha256  {info.module_sha256}"),
        Text(f"exports {', '.join(info.exports) or fmt.DASH}"),
        Text("v shows the schema", style="dim"),
    )


def pretty_json(source: str) -> str:
    """Indented JSON, or the text as it is when it does not parse (so it can be fixed)."""
    try:
        return json.dumps(json.loads(source), indent=2, ensure_ascii=False)
    except ValueError:
        return source


class TenantsScreen(DashScreen):
    AUTO_FOCUS = "#tree"
    BINDINGS = [Binding("v", "view_text", "View text")]

    catalog: reactive[Catalog | None] = reactive(None)

    def __init__(self) -> None:
        super().__init__()
        self.wanted: tuple[str, str | None] | None = None

    def body(self) -> Iterator[Widget]:
        with Horizontal():
            tree: Tree[Node] = Tree("tenants", id="tree")
            tree.show_root = False
            yield tree
            with VerticalScroll(id="detail-pane"):
                yield Static("Select a package or an event.", id="detail")

    def on_mount(self) -> None:
        self.refresh_data()
        self.set_interval(REFRESH_S, self.refresh_data)

    @work(exclusive=True)
    async def refresh_data(self) -> None:
        catalog = await self.fetch(self.source.catalog())
        if catalog is not None and catalog != self.catalog:
            self.catalog = catalog

    def watch_catalog(self) -> None:
        self.rebuild()

    def watch_filter_text(self) -> None:
        self.rebuild()

    def rebuild(self) -> None:
        """Refill the tree; only called when the catalog or the filter changed."""
        tree: Tree[Node] = self.query_one("#tree", Tree)
        tree.clear()
        if self.catalog is None:
            return
        q = self.filter_text
        for tenant in self.catalog.tenants():
            packages = [p for p in self.catalog.packages if p.tenant == tenant]
            bad = any(p.errors for p in packages)
            node = tree.root.add(Text(tenant, style="bold red" if bad else "bold"), tenant,
                                 expand=True)
            for pkg in packages:
                events = [e for e in pkg.events if matches(q, tenant, pkg.package, e.event)]
                if not events and not matches(q, tenant, pkg.package, *pkg.errors):
                    continue
                label = Text(pkg.package, style="red" if pkg.errors else "")
                label.append(f"  {pkg.version or ''}", style="dim")
                child = node.add(label, pkg, expand=True)
                for info in events:
                    child.add_leaf(info.event, info)
            if not node.children and not matches(q, tenant):
                node.remove()
        self.move_to_wanted()

    def reveal(self, tenant: str, event: str | None = None) -> None:
        """Put the cursor on ``tenant`` (or its ``event``), now or once the catalog is in."""
        self.wanted = (tenant, event)
        self.move_to_wanted()

    def move_to_wanted(self) -> None:
        if self.wanted is None:
            return
        tenant, event = self.wanted
        tree: Tree[Node] = self.query_one("#tree", Tree)
        for node in tree.root.children:
            if node.data != tenant:
                continue
            leaves = [leaf for child in node.children for leaf in child.children
                      if isinstance(leaf.data, EventInfo) and leaf.data.event == event]
            target = leaves[0] if leaves else node
            if target.line < 0:  # just added: the tree places it on its next refresh
                self.call_after_refresh(self.move_to_wanted)
                return
            tree.move_cursor(target)
            tree.focus()
            self.wanted = None
            return

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[Node]) -> None:
        self.show(event.node.data)

    def show(self, data: Node | None) -> None:
        detail = self.query_one("#detail", Static)
        if isinstance(data, PackageInfo):
            detail.update(package_detail(data))
        elif isinstance(data, EventInfo):
            version = next((p.version for p in self.catalog.packages  # type: ignore[union-attr]
                            if p.tenant == data.tenant and p.package == data.package), None)
            detail.update(event_detail(data, version))
        elif data is not None:
            detail.update(Text(f"tenant {data}", style="bold"))

    @work(exclusive=True, group="view")
    async def action_view_text(self) -> None:
        node = self.query_one("#tree", Tree).cursor_node
        data = node.data if node else None
        detail = self.query_one("#detail", Static)
        if isinstance(data, PackageInfo):
            source = await self.fetch(self.source.read_file(data.tenant, data.file))
            if source is not None:
                detail.update(Syntax(source, "toml", line_numbers=True, word_wrap=True))
        elif isinstance(data, EventInfo):
            if data.schema_file:
                source = await self.fetch(self.source.read_file(data.tenant, data.schema_file))
            else:
                source = json.dumps(data.schema)
            if source is not None:
                detail.update(Syntax(pretty_json(source), "json", line_numbers=True,
                                     word_wrap=True))
