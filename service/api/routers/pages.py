"""Consumer pages: the scan page a bottle's QR code opens, "my certificates" (with the gift,
pledge, custody and redemption actions), the page a gift link opens, and their shared script
and stylesheet (``/consumer/consumer.js``, ``/consumer/consumer.css``).

The scan page is rendered on the server from the verification answer (Jinja2, autoescape on),
so the verdict, provenance and chain proof show without JavaScript; the script adds sign-in,
the claim, the certificate list and its actions. Like ``/scanner``, the pages load nothing
from outside our origin and run no inline script or style: the template hands values to the
script through ``data-*`` attributes.
"""

# The Chinese strings use full-width punctuation, as Chinese text should; RUF001 flags it.
# ruff: noqa: RUF001

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from service.api.errors import error_response
from service.api.routers.web import WEB_DIR
from service.api.static import StaticFile, gzip_page

router = APIRouter(tags=["web"], include_in_schema=False)

TEMPLATES_DIR = WEB_DIR / "templates"

#: ``/consumer/{file}``: nothing else in service/web is served under this prefix. The pages
#: link them with their version (``asset_url``), so a browser keeps them a year (static.py).
CONSUMER_FILES: dict[str, StaticFile] = {
    "consumer.js": StaticFile(WEB_DIR / "consumer.js", "text/javascript; charset=utf-8"),
    "consumer.css": StaticFile(WEB_DIR / "consumer.css", "text/css; charset=utf-8"),
}
FAVICON = StaticFile(WEB_DIR / "favicon.ico", "image/vnd.microsoft.icon", compress=False)

#: Only our origin, and no eval of any kind (the pages need no WebAssembly).
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
_PAGE_HEADERS = {
    **_COMMON_HEADERS,
    # The scan page carries the live verdict and certificate state: never from a cache.
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Vary": "Accept, Accept-Language",
}

LANGS = ("zh", "en")
HTML_LANG = {"zh": "zh-CN", "en": "en"}

#: How each verdict looks: ok (green), warn (amber: informs, or wait) or alert (red).
VERDICT_TONE = {
    "genuine": "ok",
    "not_anchored": "warn",
    "suspected_clone": "warn",
    "not_activated": "alert",
    "unknown": "alert",
    "recalled": "alert",
    "redeemed": "alert",
    "mismatch": "alert",
}

# ----------------------------------------------------------------------------- text
#: Strings of the templates, per language. Verdicts are ``verdict_<v>`` (headline) and
#: ``verdict_<v>_detail`` (what it means and what to do).
PAGE_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "brand": "酒证",
        "scan_title": "扫码验真",
        "other_lang": "English",
        "verdict_genuine": "正品",
        "verdict_genuine_detail": "此瓶的编码由品牌方生成，已在出厂时激活，并已记录在区块链上。",
        "verdict_unknown": "疑似假冒",
        "verdict_unknown_detail": "品牌方从未生成过此编码，这瓶酒很可能是假冒的。请勿饮用，"
        "并告知卖家或品牌方。",
        "verdict_not_activated": "编码未激活",
        "verdict_not_activated_detail": "此编码存在，但从未在工厂激活，这瓶酒不应在售。"
        "请告知卖家或品牌方。",
        "verdict_not_anchored": "尚未上链",
        "verdict_not_anchored_detail": "此编码由品牌方的工厂生成并已激活，但所在批次还没有记录到"
        "区块链上，因此暂时无法独立核验。批次上链后再扫，即可看到链上证明。",
        "verdict_recalled": "已召回",
        "verdict_recalled_detail": "品牌方已召回此批次。请勿饮用，请退回购买处。",
        "verdict_redeemed": "此编码已失效",
        "verdict_redeemed_detail": "此瓶的电子酒证已兑付提货，编码随之作废。"
        "现在带有此编码的酒瓶是回灌或仿冒的。",
        "verdict_mismatch": "记录与区块链不符",
        "verdict_mismatch_detail": "我们的记录与区块链上的不一致，请勿信任这瓶酒。"
        "品牌方已收到警报。",
        "verdict_suspected_clone": "多地扫码",
        "verdict_suspected_clone_detail": "此编码在太多地方被扫过，可能被复制。仅作提示："
        "这瓶酒本身仍可能是正品。",
        "error_malformed_title": "无法识别的编码",
        "error_malformed_detail": "这个链接不是有效的商品编码（GS1 数字链接）。请重新扫描瓶身上的"
        "二维码；如果仍看到本页，这个二维码不是品牌方印制的：请勿相信这瓶酒，并告知卖家或品牌方。",
        "error_title": "暂时无法验证",
        "error_detail": "这次扫码没能完成验证，请稍后再扫。",
        "error_code": "错误代码",
        "recall_reason": "召回原因",
        "serial": "序列号",
        "product": "产品与溯源",
        "product_name": "产品",
        "gtin": "商品条码 (GTIN)",
        "lot": "批号",
        "batch": "批次",
        "factory": "生产工厂",
        "production_date": "生产日期",
        "attestations": "检测报告",
        "report_hash": "报告哈希",
        "journey": "流通轨迹",
        "journey_empty": "暂无流通记录。",
        "step_produced": "生产",
        "step_shipped": "发出",
        "step_received": "到达",
        "step_scanned": "扫码",
        "certificate": "电子酒证",
        "certificate_claimed": "已于 {date} 在 {region} 认领",
        "certificate_claimed_no_region": "已于 {date} 认领",
        "certificate_pending": "认领处理中：等待区块链确认",
        "certificate_none": "尚未被认领。",
        "chain_proof": "链上证明",
        "chain_checks": "校验结果",
        "check_anchored": "批次已上链",
        "check_valid": "证明在本地校验通过",
        "check_on_chain": "合约 verifyItem 返回真",
        "yes": "是",
        "no": "否",
        "not_asked": "未查询",
        "contract": "合约地址",
        "chain_id": "链 ID",
        "chain_batch_id": "批次 ID (batchId)",
        "token_id": "通证 ID (tokenId)",
        "item_hash": "单品哈希 (itemHash)",
        "leaf": "叶子 (leaf)",
        "root": "默克尔根 (root)",
        "proof": "默克尔证明 (proof)",
        "anchor_tx": "上链交易",
        "anchor_block": "区块高度",
        "how_to_check": "自己动手验证",
        "how_to_check_text": "不必相信本页：用任何以太坊客户端调用合约的 verifyItem(batchId, "
        "tokenId, itemHash, proof)，返回 true 即表示此瓶在链上登记过。例如用 Foundry 的 cast，"
        "把 $RPC_URL 换成链 {chain_id} 的任一节点：",
        "claim_title": "认领电子酒证",
        "claim_intro": "认领后，这瓶酒的电子酒证将登记在您名下的区块链钱包中，"
        "可以转赠、质押或寄存。",
        "pin": "PIN 码",
        "pin_hint": "刮开瓶盖内侧的涂层，可见 8 位 PIN 码（格式 XXXX-XXXX）。每瓶只能认领一次。",
        "claim": "认领",
        "my_certificates": "我的酒证",
        "my_certificates_link": "查看我的酒证",
        "destination": "手机号或邮箱",
        "send_code": "发送验证码",
        "code": "验证码",
        "sign_in": "登录",
        "sign_in_title": "登录",
        "sign_in_intro": "用手机号或邮箱登录（首次登录即注册）。",
        "other_destination": "换一个手机号或邮箱",
        "signed_in_as": "已登录：",
        "sign_out": "退出登录",
        "certificates_empty": "您还没有电子酒证。扫瓶身二维码即可认领。",
        "no_script": "本页的登录与认领需要启用 JavaScript。",
        "incoming_gifts": "收到的转赠",
        "gift_title": "转赠",
        "gift_to": "受赠人的手机号或邮箱",
        "gift_days": "有效天数",
        "gift_message": "留言（可选）",
        "gift_send": "转赠给此会员",
        "gift_make_link": "生成转赠链接",
        "gift_hint": "受赠人会收到通知；尚未注册的，用该手机号或邮箱注册后即可领取。"
        "也可生成转赠链接发给对方。"
        "对方接受前，您可以随时取消。",
        "pledge_title": "质押",
        "pledge_hint": "以这瓶酒作为借款担保。质权人接受后酒证锁定，不能转赠或提货，直至解除质押。",
        "pledgee": "质权人",
        "amount": "金额",
        "currency": "币种",
        "due_date": "到期日",
        "terms": "条款（可选）",
        "pledge_submit": "提交质押",
        "deposit_title": "寄存",
        "deposit_hint": "把酒交给寄存机构窖藏；机构确认收到后开始计算存储年限。",
        "custodian": "寄存机构",
        "deposit_submit": "寄存到此机构",
        "redeem_title": "提货",
        "redeem_hint": "酒瓶交付后，此电子酒证即终结，瓶身编码随之失效。",
        "method": "方式",
        "pickup": "到店自提",
        "delivery": "配送到家",
        "store": "门店",
        "address": "收货地址",
        "redeem_submit": "申请提货",
        "gift_accept_title": "接受转赠",
        "gift_accept_intro": "有人把一瓶酒的电子酒证转赠给您。登录（首次登录即注册）后接受，"
        "它将登记到您名下的区块链钱包中。",
        "gift_accept_button": "接受转赠",
    },
    "en": {
        "brand": "tracecert",
        "scan_title": "Bottle check",
        "other_lang": "中文",
        "verdict_genuine": "Genuine",
        "verdict_genuine_detail": "This bottle's code was made by the brand, activated at the "
        "factory and is recorded on the blockchain.",
        "verdict_unknown": "Likely counterfeit",
        "verdict_unknown_detail": "The brand never made this code: this bottle is most likely a "
        "fake. Do not drink it; tell the seller or the brand.",
        "verdict_not_activated": "Code not activated",
        "verdict_not_activated_detail": "This code exists but was never activated at the factory; "
        "the bottle should not be on sale. Tell the seller or the brand.",
        "verdict_not_anchored": "Not on the blockchain yet",
        "verdict_not_anchored_detail": "This code was made and activated by the brand's "
        "factory, but its batch is not recorded on the blockchain yet, so it cannot be checked "
        "independently. Once the batch is on the blockchain, a new scan shows the proof.",
        "verdict_recalled": "Recalled",
        "verdict_recalled_detail": "The brand recalled this batch. Do not drink it; return it "
        "where you bought it.",
        "verdict_redeemed": "This code is dead",
        "verdict_redeemed_detail": "This bottle's certificate was redeemed for the bottle itself, "
        "which ended the code. A bottle showing it now is a refill or a copy.",
        "verdict_mismatch": "Records do not match the blockchain",
        "verdict_mismatch_detail": "Our records of this code disagree with the blockchain: do not "
        "trust this bottle. The brand has been alerted.",
        "verdict_suspected_clone": "Scanned in too many places",
        "verdict_suspected_clone_detail": "This code was scanned in too many places to be one "
        "bottle; it may have been copied. This informs only: the bottle may still be genuine.",
        "error_malformed_title": "Not a valid code",
        "error_malformed_detail": "This link is not a well-formed product code (GS1 Digital "
        "Link). Scan the QR code on the bottle again; if this page comes back, the QR code was "
        "not printed by the brand: do not trust the bottle, and tell the seller or the brand.",
        "error_title": "The check could not be done",
        "error_detail": "This scan could not be checked; scan again in a moment.",
        "error_code": "Error code",
        "recall_reason": "Reason",
        "serial": "Serial",
        "product": "Product and provenance",
        "product_name": "Product",
        "gtin": "GTIN",
        "lot": "Lot",
        "batch": "Batch",
        "factory": "Factory",
        "production_date": "Production date",
        "attestations": "Test reports",
        "report_hash": "Report hash",
        "journey": "Journey",
        "journey_empty": "No shipments recorded yet.",
        "step_produced": "Produced",
        "step_shipped": "Shipped",
        "step_received": "Received",
        "step_scanned": "Scanned",
        "certificate": "Certificate",
        "certificate_claimed": "Claimed on {date} in {region}",
        "certificate_claimed_no_region": "Claimed on {date}",
        "certificate_pending": "Claim pending: waiting for the blockchain",
        "certificate_none": "Not claimed yet.",
        "chain_proof": "Chain proof",
        "chain_checks": "Checks",
        "check_anchored": "Batch anchored on chain",
        "check_valid": "Proof checks out locally",
        "check_on_chain": "Contract's verifyItem says true",
        "yes": "yes",
        "no": "no",
        "not_asked": "not asked",
        "contract": "Contract",
        "chain_id": "Chain id",
        "chain_batch_id": "batchId",
        "token_id": "tokenId",
        "item_hash": "itemHash",
        "leaf": "Leaf",
        "root": "Merkle root",
        "proof": "Merkle proof",
        "anchor_tx": "Anchor transaction",
        "anchor_block": "Block",
        "how_to_check": "How to check it yourself",
        "how_to_check_text": "You need not trust this page: call verifyItem(batchId, tokenId, "
        "itemHash, proof) on the contract with any Ethereum client; true means this bottle was "
        "registered on chain. For example with Foundry's cast, $RPC_URL being any node of "
        "chain {chain_id}:",
        "claim_title": "Claim the certificate",
        "claim_intro": "Claiming records this bottle's certificate in your own blockchain wallet; "
        "you can then give it, pledge it or deposit it.",
        "pin": "PIN",
        "pin_hint": "Scratch off the coating inside the cap to reveal the 8-character PIN "
        "(XXXX-XXXX). Each bottle can be claimed once.",
        "claim": "Claim",
        "my_certificates": "My certificates",
        "my_certificates_link": "See my certificates",
        "destination": "Mobile number or email",
        "send_code": "Send code",
        "code": "Code",
        "sign_in": "Sign in",
        "sign_in_title": "Sign in",
        "sign_in_intro": "Sign in with your mobile number or email (the first sign-in signs "
        "you up).",
        "other_destination": "Use another number or email",
        "signed_in_as": "Signed in as",
        "sign_out": "Sign out",
        "certificates_empty": "You have no certificates yet. Scan a bottle's QR code to claim one.",
        "no_script": "Signing in and claiming on this page need JavaScript.",
        "incoming_gifts": "Incoming gifts",
        "gift_title": "Give it",
        "gift_to": "The recipient's mobile number or email",
        "gift_days": "Valid for (days)",
        "gift_message": "Message (optional)",
        "gift_send": "Give to this member",
        "gift_make_link": "Make a gift link",
        "gift_hint": "The recipient gets a notice; someone without an account signs up with that "
        "phone or email and accepts. Or make a gift link and send it. You can cancel until "
        "they accept.",
        "pledge_title": "Pledge",
        "pledge_hint": "Use this bottle as collateral. Once the pledgee accepts, the certificate "
        "is locked (no gift, no redemption) until the pledge is released.",
        "pledgee": "Pledgee",
        "amount": "Amount",
        "currency": "Currency",
        "due_date": "Due date",
        "terms": "Terms (optional)",
        "pledge_submit": "Offer as collateral",
        "deposit_title": "Store",
        "deposit_hint": "Send the bottle to a custodian's cellar; its storage age counts from "
        "when the custodian confirms receiving it.",
        "custodian": "Custodian",
        "deposit_submit": "Store with this custodian",
        "redeem_title": "Redeem",
        "redeem_hint": "Once the bottle is handed out, the certificate ends and the code on the "
        "bottle goes dead.",
        "method": "How",
        "pickup": "Pick up at the store",
        "delivery": "Delivery",
        "store": "Store",
        "address": "Delivery address",
        "redeem_submit": "Ask for the bottle",
        "gift_accept_title": "Accept a gift",
        "gift_accept_intro": "Someone gave you a bottle's certificate. Sign in (the first sign-in "
        "signs you up) and accept it: it moves into your own blockchain wallet.",
        "gift_accept_button": "Accept the gift",
    },
}

#: Strings the script writes, per language (handed over in ``data-text``).
SCRIPT_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "code_sent": "验证码已发送至 {to}，{minutes} 分钟内有效。",
        "wrong_pin_other": "PIN 码与此瓶不符；还可再试 {n} 次，之后认领将暂时锁定。",
        "wrong_pin_none": "PIN 码与此瓶不符，且错误次数过多：认领已暂时锁定。"
        "请核对瓶盖下的字符后再试。",
        "invalid_sign_in_code_other": "验证码不正确；这个验证码还可再试 {n} 次。",
        "invalid_sign_in_code_none": "验证码不正确，且已用完尝试次数：请重新获取验证码。",
        "network": "网络不通，请检查网络后重试。",
        "server": "服务暂时不可用（{status}），请稍后重试。",
        "session_ended": "登录已失效，请重新登录。",
        "claim_pending": "已受理：正在写入区块链……",
        "claim_confirmed": "已确认：电子酒证已登记在您的钱包中。",
        "claim_failed": "认领未能上链：{detail}",
        "tx": "交易",
        "serial": "序列号",
        "pending": "上链中",
        "claimed": "认领",
        "region": "地区",
        "history": "记录",
        "state_claim_pending": "认领中",
        "state_active": "有效",
        "state_claim_failed": "认领失败",
        "state_gifted": "转赠中",
        "state_pledge_offered": "待质押",
        "state_pledged": "已质押",
        "state_deposit_offered": "待寄存",
        "state_in_custody": "寄存中",
        "state_redemption_requested": "待提货",
        "state_redeemed": "已提货",
        "action_claim": "认领",
        "action_confirm_claim": "上链确认",
        "action_fail_claim": "认领失败",
        "action_gift": "转赠",
        "action_accept_gift": "接受转赠",
        "action_cancel_gift": "取消转赠",
        "action_cancel_offer": "已撤回",
        "action_pledge": "质押",
        "action_accept_pledge": "接受质押",
        "action_decline_pledge": "拒绝质押",
        "action_release_pledge": "解除质押",
        "action_foreclose": "质押处置",
        "action_deposit": "寄存",
        "action_confirm_deposit": "确认寄存",
        "action_decline_deposit": "拒绝寄存",
        "action_withdraw": "取回",
        "action_request_redemption": "申请提货",
        "action_cancel_redemption": "取消提货",
        "action_fulfil_redemption": "提货完成",
        "status_queued": "排队中",
        "status_sent": "已发送",
        "status_confirmed": "已确认",
        "status_failed": "失败",
        "status_done": "已记录",
        "pending_actions": "等待区块链确认：{actions}",
        "on_chain": "已上链：{action}",
        "do_gift": "转赠",
        "do_pledge": "质押",
        "do_deposit": "寄存",
        "do_redeem": "提货",
        "do_cancel_gift": "取消转赠",
        "do_cancel_offer": "撤回",
        "do_withdraw": "取回",
        "do_redeem_storage": "从寄存处提货",
        "close": "收起",
        "accept": "接受",
        "gift_arriving": "正在送达……",
        "gift_expires": "{when} 前有效",
        "gift_link_title": "转赠链接（只显示这一次）",
        "gift_link_expires": "{when} 前有效。把链接发给受赠人：拿到链接的人都能领取。",
        "gift_sent_to": "已转赠给 {to}，等待对方接受。",
        "gift_to_missing": "请填写受赠人的手机号或邮箱，或者生成转赠链接。",
        "copy": "复制",
        "copied": "已复制",
        "copy_failed": "无法自动复制，请长按链接手动复制。",
        "gift_waiting": "等待受赠人接受，{when} 前有效。",
        "pledge_waiting": "等待 {name} 接受质押。",
        "pledge_terms": "{amount} {currency}，到期日 {due}",
        "pledged_to": "已质押给 {name}，自 {since} 起锁定。",
        "pledged_to_no_date": "已质押给 {name}。",
        "deposit_waiting": "等待 {name} 确认收到酒瓶。",
        "stored_since": "寄存于 {name}，自 {since} 起，已 {days} 天。",
        "stored_no_date": "寄存于 {name}。",
        "redemption_waiting": "等待 {name} 交付酒瓶。",
        "redemption_waiting_storage": "等待 {name} 从寄存处交付酒瓶。",
        "redeemed_final": "已提货：酒瓶已交付，此电子酒证就此终结。",
        "recalled_no_hand_out": "品牌方已召回此批次：酒瓶不再交付，也不能从寄存处取出。"
        "退货由品牌方另行安排。",
        "partner": "合作方 #{id}",
        "choose": "请选择",
        "no_partners": "暂无可选的机构。",
        "link_incomplete": "链接不完整：请打开收到的完整链接。",
        "gift_accepting": "已受理：正在转入您的钱包……",
        "gift_accepted": "已确认：电子酒证已在您的钱包中。",
        "voucher_needed": "您的酒证在您自己的钱包中：这一步需要用该钱包签名，本页暂不能发起签名。",
    },
    "en": {
        "code_sent": "Code sent to {to}; it works for {minutes} minutes.",
        "wrong_pin_one": "That PIN does not match this bottle; 1 try left before claiming locks.",
        "wrong_pin_other": "That PIN does not match this bottle; {n} tries left before claiming "
        "locks.",
        "wrong_pin_none": "That PIN does not match this bottle, and too many were wrong: claiming "
        "is locked for a while. Check the characters under the cap before trying again.",
        "invalid_sign_in_code_one": "The code is wrong; 1 try left for it.",
        "invalid_sign_in_code_other": "The code is wrong; {n} tries left for it.",
        "invalid_sign_in_code_none": "The code is wrong and used up; ask for a new code.",
        "network": "No connection; check your network and try again.",
        "server": "The service is unavailable ({status}); try again in a moment.",
        "session_ended": "Your session ended; sign in again.",
        "claim_pending": "Accepted: being written to the blockchain…",
        "claim_confirmed": "Confirmed: the certificate is in your wallet.",
        "claim_failed": "The claim did not reach the chain: {detail}",
        "tx": "Transaction",
        "serial": "Serial",
        "pending": "pending on chain",
        "claimed": "Claimed",
        "region": "Region",
        "history": "History",
        "state_claim_pending": "Claim pending",
        "state_active": "Active",
        "state_claim_failed": "Claim failed",
        "state_gifted": "Gift offered",
        "state_pledge_offered": "Pledge offered",
        "state_pledged": "Pledged",
        "state_deposit_offered": "Deposit offered",
        "state_in_custody": "In custody",
        "state_redemption_requested": "Redemption requested",
        "state_redeemed": "Redeemed",
        "action_claim": "Claimed",
        "action_confirm_claim": "Confirmed on chain",
        "action_fail_claim": "Claim failed",
        "action_gift": "Gift offered",
        "action_accept_gift": "Gift accepted",
        "action_cancel_gift": "Gift cancelled",
        "action_cancel_offer": "Offer taken back",
        "action_pledge": "Pledge offered",
        "action_accept_pledge": "Pledge accepted",
        "action_decline_pledge": "Pledge declined",
        "action_release_pledge": "Pledge released",
        "action_foreclose": "Pledge foreclosed",
        "action_deposit": "Deposit offered",
        "action_confirm_deposit": "Deposit confirmed",
        "action_decline_deposit": "Deposit declined",
        "action_withdraw": "Withdrawn",
        "action_request_redemption": "Redemption requested",
        "action_cancel_redemption": "Redemption cancelled",
        "action_fulfil_redemption": "Redeemed",
        "status_queued": "queued",
        "status_sent": "sent",
        "status_confirmed": "confirmed",
        "status_failed": "failed",
        "status_done": "recorded",
        "pending_actions": "Waiting for the blockchain: {actions}",
        "on_chain": "On chain: {action}",
        "do_gift": "Gift",
        "do_pledge": "Pledge",
        "do_deposit": "Store",
        "do_redeem": "Redeem",
        "do_cancel_gift": "Cancel gift",
        "do_cancel_offer": "Take back",
        "do_withdraw": "Withdraw",
        "do_redeem_storage": "Redeem from storage",
        "close": "Close",
        "accept": "Accept",
        "gift_arriving": "arriving…",
        "gift_expires": "Accept by {when}",
        "gift_link_title": "Gift link (shown only this once)",
        "gift_link_expires": "Works until {when}. Send it to the recipient: whoever has the link "
        "can accept the gift.",
        "gift_sent_to": "Gift sent to {to}; waiting for them to accept.",
        "gift_to_missing": "Type the recipient's mobile number or email, or make a gift link.",
        "copy": "Copy",
        "copied": "Copied",
        "copy_failed": "Could not copy; press and hold the link to copy it.",
        "gift_waiting": "Waiting for the recipient to accept, until {when}.",
        "pledge_waiting": "Waiting for {name} to accept the pledge.",
        "pledge_terms": "{amount} {currency}, due {due}",
        "pledged_to": "Pledged to {name}, locked since {since}.",
        "pledged_to_no_date": "Pledged to {name}.",
        "deposit_waiting": "Waiting for {name} to confirm receiving the bottle.",
        "stored_since": "Stored with {name} since {since}: {days} days.",
        "stored_no_date": "Stored with {name}.",
        "redemption_waiting": "Waiting for {name} to hand out the bottle.",
        "redemption_waiting_storage": "Waiting for {name} to hand out the bottle from storage.",
        "redeemed_final": "Redeemed: the bottle was handed out; this certificate is closed.",
        "recalled_no_hand_out": "The brand recalled this batch: the bottle is not handed out or "
        "taken out of storage. The brand arranges the return.",
        "partner": "partner #{id}",
        "choose": "Choose",
        "no_partners": "None to choose from yet.",
        "link_incomplete": "This link is incomplete: open the whole link you were sent.",
        "gift_accepting": "Accepted: moving into your wallet…",
        "gift_accepted": "Confirmed: the certificate is in your wallet.",
        "voucher_needed": "Your certificates are in your own wallet: this step needs that "
        "wallet's signature, which this page cannot ask for yet.",
    },
}


# ----------------------------------------------------------------------------- helpers
@functools.cache
def _environment(folder: Path = TEMPLATES_DIR) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        autoescape=True,
        undefined=jinja2.StrictUndefined,  # a misspelt name fails the render, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Chinese stays readable in data-text; tojson still escapes < > & ' for the attribute.
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
    env.globals["asset_url"] = asset_url
    return env


def asset_url(name: str) -> str:
    """The versioned URL of a consumer page file (``/consumer/consumer.js?v=<hash>``), or of
    the icon (``/favicon.ico?v=<hash>``)."""
    if name == "favicon.ico":
        return FAVICON.url("/favicon.ico")
    return CONSUMER_FILES[name].url(f"/consumer/{name}")


def choose_lang(request: Request) -> str:
    """``?lang=zh|en``, else Chinese for an Accept-Language starting with zh, else English."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    accept = request.headers.get("accept-language", "").strip().lower()
    return "zh" if accept.startswith("zh") else "en"


def _quality(accept: str, media_type: str, *, wildcards: bool) -> float:
    """The q-value ``accept`` gives ``media_type`` (0 if none), optionally through */*."""
    best = 0.0
    kind = media_type.split("/")[0]
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        name = name.lower()
        if name != media_type and not (wildcards and name in ("*/*", f"{kind}/*")):
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_html(request: Request) -> bool:
    """True when the client asks for HTML by name and prefers it to JSON: a browser opening a
    bottle's QR code. ``*/*`` alone (curl, HTTP libraries) keeps the JSON answer."""
    accept = request.headers.get("accept", "")
    html = _quality(accept, "text/html", wildcards=False)
    return html > 0 and html > _quality(accept, "application/json", wildcards=True)


def _day(value: Any) -> str:
    """The date part of an ISO date or date-time (as the API renders them), or ''."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value)[:10]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _region(value: Any) -> dict[str, str] | None:
    """``{"code", "name"}`` (or a bare code) as ``{"code", "label"}`` for display."""
    if isinstance(value, str):
        return {"code": value, "label": value}
    region = _dict(value)
    code, name = _text(region.get("code")), _text(region.get("name"))
    if not code and not name:
        return None
    return {"code": code, "label": f"{name} ({code})" if name and code else name or code}


def _link(uri: str) -> bool:
    """Only web addresses become links: a javascript: or data: URI stays text."""
    return uri.lower().startswith(("https://", "http://"))


def _cast_command(chain: dict[str, Any], contract: dict[str, Any]) -> str:
    proof = ",".join(_text(p) for p in chain.get("proof") or [])
    return (
        f"cast call {_text(contract.get('address')) or '<contract>'} "
        '"verifyItem(bytes32,uint256,bytes32,bytes32[])(bool)" '
        f"{_text(chain.get('chain_batch_id'))} {_text(chain.get('token_id'))} "
        f'{_text(chain.get("item_hash"))} "[{proof}]" --rpc-url "$RPC_URL"'
    )


def _other_lang_href(request: Request, lang: str) -> str:
    other = "en" if lang == "zh" else "zh"
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    return "?" + urlencode({**query, "lang": other})


def _common(request: Request, lang: str) -> dict[str, Any]:
    return {
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "t": PAGE_TEXT[lang],
        "script_text": SCRIPT_TEXT[lang],
        "other_lang_href": _other_lang_href(request, lang),
        "my_certificates_href": "/my-certificates?" + urlencode({"lang": lang}),
    }


def scan_context(body: Mapping[str, Any]) -> dict[str, Any]:
    """What scan.html shows, from a verification answer (any key may be missing)."""
    verdict = _text(body.get("verdict")) or "unknown"
    if verdict not in VERDICT_TONE:
        verdict = "unknown"  # a verdict this page does not know yet must not read as genuine
    chain = _dict(body.get("chain"))
    contract = _dict(body.get("contract"))
    provenance = _dict(body.get("provenance"))
    product = _dict(provenance.get("product"))
    certificate = body.get("certificate")
    certificate = _dict(certificate) if certificate is not None else None
    journey: list[dict[str, Any]] = [
        {
            "at": _day(step.get("at")),
            "step": _text(step.get("step")),
            "region": _region(step.get("region")),
        }
        for step in (_dict(s) for s in provenance.get("journey") or [])
    ]
    # The claim is offered where the bottle was last received (its shop), when known.
    claim_region = next(
        (s["region"]["code"] for s in reversed(journey) if s["region"] and s["region"]["code"]),
        "",
    )
    # A suspected clone is genuine and flagged only: its owner may still claim it.
    genuine = verdict in ("genuine", "suspected_clone") and bool(body.get("genuine", True))
    return {
        "verdict": verdict,
        "tone": VERDICT_TONE[verdict],
        "serial": _text(body.get("serial")),
        "recall": _dict(body.get("recall")) if body.get("recall") else None,
        "known": verdict != "unknown",
        "product": {
            "name": _text(product.get("name")),
            "gtin": _text(product.get("gtin") or body.get("gtin")),
            "lot": _text(product.get("lot") or body.get("lot")),
            "batch_id": _text(body.get("batch_id")),
            "production_date": _day(product.get("production_date") or body.get("production_date")),
        },
        "factory": _text(_dict(provenance.get("factory")).get("name")),
        "attestations": [
            {
                "uri": _text(a.get("uri")),
                "link": _link(_text(a.get("uri"))),
                "report_hash": _text(a.get("report_hash")),
                "tx_hash": _text(a.get("tx_hash")),
            }
            for a in (_dict(a) for a in provenance.get("attestations") or [])
        ],
        "journey": journey,
        "certificate": None
        if certificate is None
        else {
            "state": _text(certificate.get("state")),
            "pending": bool(certificate.get("pending")),
            "claimed_on": _day(certificate.get("claimed_on")),
            "region": _region(certificate.get("claim_region")),
        },
        "claimable": genuine and certificate is None,
        "claim_region": claim_region,
        "chain": None
        if not chain
        else {
            "contract": _text(contract.get("address")),
            "chain_id": _text(contract.get("chain_id")),
            "anchored": chain.get("anchored"),
            "valid": chain.get("valid"),
            "on_chain": chain.get("on_chain"),
            "chain_batch_id": _text(chain.get("chain_batch_id")),
            "token_id": _text(chain.get("token_id")),
            "item_hash": _text(chain.get("item_hash")),
            "leaf": _text(chain.get("leaf")),
            "root": _text(chain.get("root")),
            "proof": [_text(p) for p in chain.get("proof") or []],
            "anchor_tx_hash": _text(chain.get("anchor_tx_hash")),
            "anchor_block_number": _text(chain.get("anchor_block_number")),
            "cast": _cast_command(chain, contract),
        },
    }


def _page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    html = _environment().get_template(template).render(**context)
    page = HTMLResponse(html, status_code=status_code, headers=_PAGE_HEADERS)
    gzip_page(request, page)
    return page


# ----------------------------------------------------------------------------- pages
def render_scan_page(request: Request, body: Mapping[str, Any]) -> HTMLResponse:
    """The scan page for a verification answer (the JSON of the Digital Link route or of
    ``/items/{serial}/verify``, as a dict): verdict, provenance, certificate, chain proof,
    and the claim panel for a genuine bottle nobody has claimed."""
    lang = choose_lang(request)
    return _page(request, "scan.html", {**_common(request, lang), "scan": scan_context(body)})


def render_error_page(request: Request, status: int, code: str, detail: str) -> HTMLResponse:
    """What a browser gets when a scan is refused (a malformed code above all): the reason in
    its language and the machine code, with the refusal's status. The API's ``detail`` is
    shown only for refusals without a text of their own; it never repeats the refused input."""
    lang = choose_lang(request)
    t = PAGE_TEXT[lang]
    malformed = code.startswith("malformed_")
    error = {
        "code": code,
        "title": t["error_malformed_title"] if malformed else t["error_title"],
        "detail": t["error_malformed_detail"] if malformed else t["error_detail"],
        "api_detail": "" if malformed or status >= 500 else detail,
    }
    return _page(request, "error.html", {**_common(request, lang), "error": error}, status)


@router.get("/my-certificates", response_class=HTMLResponse)
def my_certificates_page(request: Request) -> HTMLResponse:
    """My certificates (我的酒证): sign in, then the list (filled by consumer.js)."""
    return _page(request, "my_certificates.html", _common(request, choose_lang(request)))


@router.get("/gifts/accept", response_class=HTMLResponse)
def gift_accept_page(request: Request) -> HTMLResponse:
    """The page a gift link opens (``/gifts/accept#<secret>``): sign in or up, then accept.
    The secret travels in the fragment, which browsers never send, so it reaches no server
    or proxy log; consumer.js reads it and posts it to ``POST /gifts/accept``."""
    return _page(request, "gift_accept.html", _common(request, choose_lang(request)))


@router.get("/consumer/{file}", response_model=None)
def consumer_asset(file: str, request: Request) -> Response:
    """consumer.js and consumer.css (ETag, 304, gzip; a year when versioned); any other name
    is 404."""
    found = CONSUMER_FILES.get(file)
    if found is None:
        return error_response(
            404, "not_found", "No such file for the consumer pages; check the path."
        )
    return found.respond(request)


@router.get("/favicon.ico", response_model=None)
def favicon(request: Request) -> Response:
    """The pages' icon (browsers ask for it whether linked or not)."""
    return FAVICON.respond(request)
