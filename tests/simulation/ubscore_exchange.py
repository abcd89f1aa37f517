"""The UBSCore core and the REAL matcher core wired together with plain lists, through both codecs.

UBSCore's commands are encoded as `orders` records (ubscore.codec), decoded by the matcher's codec, applied by
matcher.engine.Engine, built into EngineOutputs and sealed into the hash chain, serialized, parsed back and decoded
by ubscore.codec for settlement: exactly the bytes the services exchange, without the transports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from common.engine_chain import Chain
from common.enums import BalanceOperation, OrderType, SelfTradeMode, Side, TimeInForce
from common.markets import MarketCatalog, load_catalog
from exchange.v1 import engine_pb2
from matcher.codec import build_output, decode_command, parse_order_command
from matcher.engine import Engine
from ubscore.codec import decode_output, encode_command
from ubscore.commands import CancelRequest, PlaceRequest, TransferRequest
from ubscore.core import UbsCore
from ubscore.events import BalanceEvent, Effects

FEE_ACCOUNT = 1  # config/markets.yaml fee_account_user_id (checked in __post_init__)
BTC, USDT, ETH = 1, 2, 3


@dataclass
class Exchange:
    """UBSCore + one matcher shard; `match()` moves queued commands through the matcher and settles the outputs."""

    catalog: MarketCatalog = field(default_factory=load_catalog)
    core: UbsCore = field(init=False)
    engine: Engine = field(init=False)
    chain: Chain = field(default_factory=lambda: Chain(shard_id=0))
    queued: list[bytes] = field(default_factory=list)  # `orders` records not yet matched
    outputs: list[bytes] = field(default_factory=list)  # every EngineOutput, serialized
    events: list[BalanceEvent] = field(default_factory=list)  # every BalanceEvent, in order
    deposited: dict[int, int] = field(default_factory=dict)  # asset -> deposits - withdrawals (the auditor's view)
    ts_ns: int = 1_700_000_000_000_000_000

    def __post_init__(self) -> None:
        self.core = UbsCore(self.catalog.markets.values(), [a.asset_id for a in self.catalog.assets.values()],
                            fee_account_user_id=self.catalog.fee_account_user_id)  # fmt: skip
        self.engine = Engine(self.catalog.markets.values())
        assert self.catalog.fee_account_user_id == FEE_ACCOUNT, self.catalog.fee_account_user_id

    def _tick(self) -> int:
        self.ts_ns += 1_000
        return self.ts_ns

    def _take(self, effects: Effects) -> Effects:
        self.events.extend(effects.events)
        self.queued.extend(encode_command(command) for command in effects.commands)
        return effects

    def transfer(self, user: int, asset: int, amount: int, *, deposit: bool, request_id: str = "") -> Effects:
        """A deposit or withdrawal (request id made up from the clock unless given)."""
        operation = BalanceOperation.TRANSFER_IN if deposit else BalanceOperation.TRANSFER_OUT
        ts = self._tick()
        effects = self._take(self.core.transfer(
            TransferRequest(request_id or f"t{ts}", user, asset, amount, operation, ts)
        ))  # fmt: skip
        for event in effects.events:
            if not event.reject_reason:
                self.deposited[asset] = self.deposited.get(asset, 0) + event.delta_available_units
        return effects

    def place(
        self, user: int, symbol: str, side: Side, *, price: int = 0, qty: int = 0, budget: int = 0,
        order_type: OrderType = OrderType.LIMIT, tif: TimeInForce = TimeInForce.GTC, post_only: bool = False,
        stp: SelfTradeMode = SelfTradeMode.UNSPECIFIED, coid: str = "",
    ) -> Effects:  # fmt: skip
        """Place an order through UBSCore (queued for the matcher if accepted)."""
        ts = self._tick()
        request = PlaceRequest(user, coid or f"c{ts}", symbol, side, order_type, tif, post_only, price, qty, budget,
                               stp, ts)  # fmt: skip
        return self._take(self.core.place(request))

    def cancel(self, user: int, *, order_id: int = 0, coid: str = "", symbol: str = "") -> Effects:
        """Cancel through UBSCore (queued for the matcher if accepted)."""
        return self._take(self.core.cancel(CancelRequest(user, order_id, coid, symbol, self._tick())))

    def match(self, commands_max: int | None = None) -> list[bytes]:
        """Run queued commands through the matcher and settle each output in UBSCore; the new outputs."""
        count = len(self.queued) if commands_max is None else min(commands_max, len(self.queued))
        batch, self.queued = self.queued[:count], self.queued[count:]
        produced = []
        for offset, record in enumerate(batch):
            message = parse_order_command(record)
            result = self.engine.apply(decode_command(message))
            output = self.chain.seal(build_output(message, partition=0, offset=offset, result=result))
            data = output.SerializeToString(deterministic=True)
            produced.append(data)
            self.settle(data)
        self.outputs.extend(produced)
        return produced

    def settle(self, data: bytes) -> Effects:
        """Apply one serialized EngineOutput to UBSCore (a redelivery changes nothing)."""
        output = engine_pb2.EngineOutput()
        output.ParseFromString(data)
        return self._take(self.core.apply_output(decode_output(output)))

    def balance(self, user: int, asset: int) -> tuple[int, int]:
        """(available, frozen) of an account."""
        account = self.core.ledger.accounts.get((user, asset))
        return (account.available_units, account.frozen_units) if account else (0, 0)

    def restart(self) -> None:
        """Replace the UBSCore core by one restored from a JSON round trip of its snapshot."""
        state = json.loads(json.dumps(self.core.snapshot(), sort_keys=True))
        fresh = UbsCore(self.catalog.markets.values(), [a.asset_id for a in self.catalog.assets.values()],
                        fee_account_user_id=self.catalog.fee_account_user_id)  # fmt: skip
        fresh.restore(state)
        assert fresh.snapshot() == self.core.snapshot()
        self.core = fresh

    def problems(self) -> list[str]:
        """Every broken money rule, including the auditor's: supply equals deposits minus withdrawals."""
        found = self.core.invariant_problems()
        supply = {asset: units for asset, units in self.core.ledger.supply.items() if units}
        if supply != {asset: units for asset, units in self.deposited.items() if units}:
            found.append(f"supply {supply} != deposits - withdrawals {self.deposited}")
        return found
