"""The operator's console of a live run: progress, pending commands to approve or reject, open alarms
to acknowledge or shelve. Every button calls :class:`twin.harness.runview.whatif.LiveRun`; nothing is decided here."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from twin.contracts import by_risk
from twin.harness.runview.run import plant_clock
from twin.harness.runview.whatif import LiveRun

OPERATOR = "app operator"


def _act(action: str, call: Callable[..., None], *args: object) -> None:
    """Call a LiveRun operator method; a refusal (not pending any more, run finished) is shown, not raised."""
    try:
        call(*args)
        st.toast(action)
    except (KeyError, ValueError, RuntimeError) as err:
        st.warning(f"{action}: {err}")


def pending_commands(live: LiveRun) -> None:
    """Each command waiting for an operator (recommend policy), with Approve and Reject."""
    pending = live.pending()
    if not pending:
        st.caption("No command waits for a decision." if live.wired else "Wiring the run…")
        return
    reason = st.text_input("reason for a rejection", value="not now", key="live-reject-reason")
    for c in pending:
        cols = st.columns([6, 1, 1])
        cols[0].markdown(f"**{c['id']}** at {c['t_ms'] / 1000:g} s: set `{c.get('tag')}` "
                         f"{c.get('previous')} → **{c.get('value')}** — {c.get('reason') or c.get('rule')}")
        if cols[1].button("Approve", key=f"approve-{c['id']}"):
            _act(f"approved {c['id']}", live.approve, c["id"], OPERATOR)
        if cols[2].button("Reject", key=f"reject-{c['id']}"):
            _act(f"rejected {c['id']}", live.reject, c["id"], OPERATOR, reason)


def open_alarms(live: LiveRun) -> None:
    """Each alarm not back to normal, with Acknowledge (unacknowledged ones) and Shelve."""
    alarms = live.alarms()
    if not alarms:
        st.caption("No open alarms.")
        return
    shelve_s = st.number_input("shelve for (plant s)", min_value=1.0, value=60.0, key="live-shelve-s")
    for a in by_risk(alarms):  # the most severe effect threatened first
        cols = st.columns([6, 1, 1])
        risk = f" — severity {a['severity']} ({a['effect']})" if a.get("severity") is not None else ""
        cols[0].markdown(f"**{a['id']}** {a['state']} — {a['tag']} ({a['detector']} {a['rule']}) "
                         f"since {plant_clock(a['t_ms'])}{risk}")
        if a["state"] in ("unack_active", "unack_rtn") and cols[1].button("Acknowledge", key=f"ack-{a['id']}"):
            _act(f"acknowledged {a['id']}", live.acknowledge, a["id"], OPERATOR)
        if a["state"] != "shelved":
            with cols[2].popover("Shelve"):  # a confirmation, with the reason ISA-18.2 asks for
                reason = st.text_input("why", key=f"shelve-reason-{a['id']}", placeholder="e.g. sensor under repair")
                if st.button(f"Shelve for {shelve_s:g} s", key=f"shelve-{a['id']}", disabled=not reason.strip()):
                    _act(f"shelved {a['id']}", live.shelve, a["id"], float(shelve_s), OPERATOR, reason)


@st.fragment(run_every=1.0)
def console() -> None:
    """Redrawn every second while the live run in ``st.session_state.live`` runs; shows the run when it ends."""
    live: LiveRun | None = st.session_state.get("live")
    if live is None:
        return
    if not live.running:
        st.session_state.live_error = live.error
        if (live.out_dir / "report.json").is_file():
            st.session_state.run_dir = str(live.out_dir)
        del st.session_state["live"]
        st.rerun()
    share = live.done / live.total if live.total else 0.0
    st.progress(share, text=f"live: {live.t_ms / 1000:g} s plant time, {live.done:,} / {live.total:,} scans")
    if st.button("Stop the run", key="live-stop"):
        live.stop()
    left_s = live.hold_left_s
    if left_s is not None:
        st.warning(f"The plant is held, waiting for you ({left_s:.0f} s left): approve or reject the pending "
                   "command below; after that the plant runs on and the command waits for its deadline.")
    left, right = st.columns(2)
    with left:
        st.subheader("Pending commands")
        pending_commands(live)
    with right:
        st.subheader("Open alarms")
        open_alarms(live)
    for note in live.notes:
        st.warning(note)
