"""Balances: one account per (user, asset) with `available` and `frozen` int units and a `version`.

Every change goes through one of the methods below, which check their preconditions (assertions: a failed one is
a bug, and the process stops rather than let money drift), bump the account's `version` (dense from 1), and
return the `BalanceEvent` that describes it, numbered by the ledger's dense `event_id`. Refusals are events too
(`refusal`), with version 0 and no balance change.

Conservation: per asset, the sum of available + frozen over every account (the fee account included) equals
`supply[asset]` = deposits minus withdrawals. `conservation_problems()` checks it; tests run it after every step
and the service at every snapshot. Since every deposit keeps `supply` within int64, no single balance can leave
int64 either.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from common.enums import BalanceEventType, BalanceOperation, FundsUnlockCause
from common.money import INT64_MAX
from ubscore.events import BalanceEvent

FUNDS_LOCKED = BalanceEventType.FUNDS_LOCKED  # read once per order: an IntEnum member off its class costs ~70 ns
NO_UNLOCK_CAUSE, NO_OPERATION = FundsUnlockCause.UNSPECIFIED, BalanceOperation.UNSPECIFIED
_new = tuple.__new__  # a NamedTuple without its Python-level __new__ (see ubscore/codec.py)


@dataclass(slots=True)
class Account:
    """One (user, asset) balance: what can be spent, what is locked by open orders, and its change count."""

    available_units: int = 0
    frozen_units: int = 0
    version: int = 0


@dataclass(slots=True)
class Ledger:
    """Every account, the per-asset supply, and the event counter. Not thread-safe (one loop owns it)."""

    accounts: dict[tuple[int, int], Account] = field(default_factory=dict)
    supply: dict[int, int] = field(default_factory=dict)  # asset_id -> deposits - withdrawals
    last_event_id: int = 0

    def account(self, user_id: int, asset_id: int) -> Account:
        """The account of (user, asset), created empty on first use."""
        key = (user_id, asset_id)
        found = self.accounts.get(key)
        if found is None:
            found = self.accounts[key] = Account()
        return found

    def available_units(self, user_id: int, asset_id: int) -> int:
        """Spendable balance (0 for an account never used); creates nothing."""
        found = self.accounts.get((user_id, asset_id))
        return found.available_units if found is not None else 0

    def can_deposit(self, asset_id: int, amount_units: int) -> bool:
        """True if the asset's total supply stays within int64 after crediting `amount_units`."""
        return self.supply.get(asset_id, 0) + amount_units <= INT64_MAX

    def _event(
        self, user_id: int, asset_id: int, kind: BalanceEventType, delta_available: int, delta_frozen: int,
        account: Account, context: dict[str, Any],
    ) -> BalanceEvent:  # fmt: skip
        account.version += 1
        self.last_event_id += 1
        return BalanceEvent(
            self.last_event_id, user_id, asset_id, kind, delta_available, delta_frozen,
            account.available_units, account.frozen_units, account.version, **context,
        )  # fmt: skip

    def deposit(self, user_id: int, asset_id: int, amount_units: int, **context: Any) -> BalanceEvent:
        """Credit available from outside (a transfer in); the caller checked `can_deposit`."""
        assert amount_units > 0, amount_units
        assert self.can_deposit(asset_id, amount_units), (asset_id, amount_units)
        self.supply[asset_id] = self.supply.get(asset_id, 0) + amount_units
        account = self.account(user_id, asset_id)
        account.available_units += amount_units
        return self._event(user_id, asset_id, BalanceEventType.DEPOSITED, amount_units, 0, account, context)

    def withdraw(self, user_id: int, asset_id: int, amount_units: int, **context: Any) -> BalanceEvent:
        """Debit available to outside (a transfer out); the caller checked it is covered."""
        account = self.account(user_id, asset_id)
        assert 0 < amount_units <= account.available_units, (amount_units, account)
        account.available_units -= amount_units
        self.supply[asset_id] -= amount_units
        return self._event(user_id, asset_id, BalanceEventType.WITHDRAWN, -amount_units, 0, account, context)

    def lock(
        self, account: Account, user_id: int, asset_id: int, amount_units: int, order_id: int, ts_event_ns: int,
        client_order_id: str, symbol: str,
    ) -> BalanceEvent:  # fmt: skip
        """Move available to frozen of `account` (that of (user_id, asset_id), which the caller looked up and checked
        covers it) for an order. Once per accepted order, so the event is built positionally (every field, through
        tuple.__new__), without the keyword context the other changes take."""
        assert account is self.accounts[(user_id, asset_id)], (user_id, asset_id)
        assert 0 < amount_units <= account.available_units, (amount_units, account)
        account.available_units -= amount_units
        account.frozen_units += amount_units
        account.version += 1
        self.last_event_id += 1
        return _new(BalanceEvent, (
            self.last_event_id, user_id, asset_id, FUNDS_LOCKED, -amount_units, amount_units,
            account.available_units, account.frozen_units, account.version, "", order_id, 0, 0, ts_event_ns,
            client_order_id, symbol, NO_UNLOCK_CAUSE, None, NO_OPERATION, 0, "",
        ))  # fmt: skip

    def unlock(self, user_id: int, asset_id: int, amount_units: int, **context: Any) -> BalanceEvent:
        """Move frozen back to available (context carries the `unlock_cause`)."""
        account = self.account(user_id, asset_id)
        assert 0 < amount_units <= account.frozen_units, (amount_units, account)
        account.frozen_units -= amount_units
        account.available_units += amount_units
        return self._event(
            user_id, asset_id, BalanceEventType.FUNDS_UNLOCKED, amount_units, -amount_units, account, context
        )

    def debit_frozen(self, user_id: int, asset_id: int, amount_units: int, **context: Any) -> BalanceEvent:
        """Spend frozen funds on a fill (they leave this account for the counterparty)."""
        account = self.account(user_id, asset_id)
        assert 0 < amount_units <= account.frozen_units, (amount_units, account)
        account.frozen_units -= amount_units
        return self._event(user_id, asset_id, BalanceEventType.TRADE_DEBITED, 0, -amount_units, account, context)

    def credit(
        self, user_id: int, asset_id: int, amount_units: int, kind: BalanceEventType, **context: Any
    ) -> BalanceEvent:
        """Credit available with what a fill paid (TRADE_CREDITED) or a fee (FEE_COLLECTED); supply is unchanged."""
        assert amount_units > 0, amount_units
        assert kind in (BalanceEventType.TRADE_CREDITED, BalanceEventType.FEE_COLLECTED), kind
        account = self.account(user_id, asset_id)
        account.available_units += amount_units
        assert account.available_units <= INT64_MAX, account  # supply <= int64 bounds every balance
        return self._event(user_id, asset_id, kind, amount_units, 0, account, context)

    def refusal(self, user_id: int, asset_id: int, kind: BalanceEventType, reason: int, **context: Any) -> BalanceEvent:
        """An event for a refused request: nothing changes, version 0, the balance as it stands."""
        self.last_event_id += 1
        found = self.accounts.get((user_id, asset_id))
        available, frozen = (found.available_units, found.frozen_units) if found is not None else (0, 0)
        return BalanceEvent(
            self.last_event_id, user_id, asset_id, kind, 0, 0, available, frozen, 0, reject_reason=reason, **context
        )

    def totals(self) -> dict[int, int]:
        """Per asset, the sum of available + frozen over every account."""
        sums: dict[int, int] = {}
        for (_, asset_id), account in self.accounts.items():
            sums[asset_id] = sums.get(asset_id, 0) + account.available_units + account.frozen_units
        return sums

    def conservation_problems(self) -> list[str]:
        """Broken money rules (empty when the ledger is sound): negative balances, sums that differ from supply."""
        problems = [
            f"user {user} asset {asset}: {account}"
            for (user, asset), account in self.accounts.items()
            if account.available_units < 0 or account.frozen_units < 0
        ]
        totals = self.totals()
        for asset_id in sorted(set(totals) | set(self.supply)):
            if totals.get(asset_id, 0) != self.supply.get(asset_id, 0):
                problems.append(
                    f"asset {asset_id}: accounts hold {totals.get(asset_id, 0)}, supply {self.supply.get(asset_id, 0)}"
                )
        return problems

    def rows(self) -> Iterator[tuple[int, int, int, int, int]]:
        """(user_id, asset_id, available, frozen, version) of every account, sorted (dumps and snapshots)."""
        for (user_id, asset_id), account in sorted(self.accounts.items()):
            yield user_id, asset_id, account.available_units, account.frozen_units, account.version

    def snapshot(self) -> dict[str, Any]:
        """Plain data (JSON-able, deterministic)."""
        return {
            "accounts": [list(row) for row in self.rows()],
            "supply": [[asset, units] for asset, units in sorted(self.supply.items())],
            "last_event_id": self.last_event_id,
        }

    @classmethod
    def restore(cls, state: dict[str, Any]) -> Ledger:
        """The ledger a `snapshot()` describes."""
        ledger = cls(last_event_id=state["last_event_id"])
        for user_id, asset_id, available, frozen, version in state["accounts"]:
            ledger.accounts[(user_id, asset_id)] = Account(available, frozen, version)
        ledger.supply = {asset: units for asset, units in state["supply"]}
        return ledger
