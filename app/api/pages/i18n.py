"""The passport page in Simplified Chinese and English: words, names of countries, choice."""

from __future__ import annotations

import gettext
from functools import lru_cache

import pycountry

__all__ = ["LANGUAGES", "TAP_WORDS", "choose", "country_name", "words"]

LANGUAGES = ("zh", "en")

_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Green ID card",
        "story": "{form} with {fine}\u00a0g of fine gold: {origin}{made}; {vouched}.",
        "story_gold": "Gold",
        "story_recycled": "recycled gold from {where}",
        "story_mined": "gold mined in {where}",
        "story_mixed": "{share} recycled gold, the rest mined, from {where}",
        "story_unknown_place": "places not declared",
        "story_made": "; last {action} by {partner}",
        "story_certified": "{scheme} ({share})",
        "story_declared": "certifications declared: {schemes}",
        "story_no_certificate": "no certification declared",
        "story_list_sep": ", ",
        "qr_caption": "Scan to open this green ID card",
        "trust_line": "Checked by your own browser, not taken on trust: every statement on this card is signed by the partner who made it and recorded in a public log that no one, Goldtrail included, can rewrite unseen.",
        "technical": "Technical details",
        "piece": "This piece",
        "piece_bar": "Bar marked {marks}.",
        "piece_assay": "Assay certificate recorded (SHA-256 {digest}…).",
        "piece_fingerprint": "Surface fingerprint recorded (SHA-256 {digest}…).",
        "piece_tag": "An NFC tag that cannot be copied is attached (since {since}): tap it with your phone to check this very piece.",
        "piece_claimed": "Claimed by its owner on {at}.",
        "piece_unclaimed": "Not yet claimed: the owner's one-time code comes with the piece.",
        "piece_refused": "{count} claims with a wrong or used code were refused.",
        "lot": "Lot",
        "grade": "Green grade",
        "grade_note": "A is best, E is worst; by carbon per kg of fine gold",
        "fine_gold": "Fine gold",
        "carbon": "Carbon intensity",
        "carbon_unit": "kg CO₂e per kg of fine gold",
        "carbon_unit_short": "kg CO₂e/kg",
        "benchmark": "Average gold mine (World Gold Council)",
        "of_benchmark": "of the average gold mine",
        "recycled": "Recycled gold",
        "certified": "Certified",
        "none": "none",
        "countries": "Countries of origin",
        "conflict_free": "Conflict-free origin",
        "mercury_free": "Mercury-free",
        "yes": "yes",
        "no": "no",
        "unknown": "not declared",
        "journey": "Journey",
        "custodian": "Held by",
        "verification": "Verification",
        "server_ok": "Goldtrail's verifier checked every signature, link, proof and figure of this passport.",
        "server_bad": "Warning: this passport does not verify. Do not rely on it.",
        "browser_checking": "Your browser is checking the passport itself…",
        "browser_ok": "Your browser checked it too, without trusting any server:",
        "browser_bad": "Your browser found that this passport was changed:",
        "browser_cannot": "This browser cannot verify Ed25519 signatures, so it could not check the passport itself. Use an up-to-date browser, or run: goldtrail verify passport.json",
        "browser_scope": "The browser checks hashes, signatures, chain links, the transparency-log proofs and the checkpoint. The metrics' arithmetic is rechecked by goldtrail verify; the service's signature covers it here.",
        "checked": "What was checked",
        "download": "Passport (JSON)",
        "credential": "Verifiable credential",
        "certificate": "Printable certificate (PDF)",
        "qr_alt": "QR code linking to this page",
        "switch": "中文",
        "from": "from",
        "to": "into",
        "not_found": "No such lot",
        "not_found_text": "Goldtrail has no lot with this id. Check the code on the card.",
        "stage.exploration": "Exploration",
        "stage.mining": "Mining",
        "stage.smelting": "Smelting and refining",
        "stage.circulation": "Circulation",
        "stage.sale": "Sale",
        "checkpoint": "Proven against log checkpoint",
        "grams": "g",
        "per_mille": "‰",
        "deeper": "Verify deeper: check each input's own passport",
        "deeper_checking": "Your browser is checking the passports of the lots this one was made from…",
        "deeper_ok": "Each lot this one was made from has a passport that verifies, and its summary lies on that lot's chain:",
        "deeper_bad": "An input's passport did not verify:",
        "upstream": "Made from",
        "upstream_note": "What the gold of each input carried, as the service logged it when the input was used (its countries, shares and emissions; the input's own passport shows its history).",
        "used_up": "Used up on {date} by {partner}: {action} into {lots}. The figures below are the lot's just before.",
        "status": "Status",
        "input_gold": "fine gold",
        "dash": "—",
        "certificate_title": "Green Gold Certificate",
        "recycled_share": "Recycled share",
        "certified_shares": "Certified shares",
        "chain_head": "Chain head",
        "passport_digest": "Passport SHA-256",
        "issued": "Issued",
        "check_yourself": "Check it yourself: open {url}, or download the passport and run 'goldtrail verify passport.json --log-key <the log's key>'.",
        "per_kg_fine": "kg CO₂e per kg of fine gold",
        "average_mine": "average mine",
        "lot_form": "{mass}\u00a0g of {form} at {fineness}\u00a0‰",
        "lot_bulk": "{tonnes}\u00a0t of {form} at {grade}\u00a0g/t",
        "form.deposit": "deposit",
        "form.ore": "ore",
        "form.concentrate": "concentrate",
        "form.dore": "doré",
        "form.bar": "bar",
        "form.grain": "grain",
        "form.semi-finished": "semi-finished",
        "form.jewellery": "jewellery",
        "form.scrap": "scrap",
    },
    "zh": {
        "story": "{form}，含纯金 {fine}\u00a0克：{origin}{made}；{vouched}。",
        "story_gold": "黄金",
        "story_recycled": "来自{where}的回收金",
        "story_mined": "开采自{where}的黄金",
        "story_mixed": "{share} 为回收金、其余为矿产金，来自{where}",
        "story_unknown_place": "未声明的产地",
        "story_made": "，最后由{partner}{action}",
        "story_certified": "{scheme}（{share}）",
        "story_declared": "声明的认证：{schemes}",
        "story_no_certificate": "未声明任何认证",
        "story_list_sep": "、",
        "qr_caption": "扫码查看本绿色身份证",
        "trust_line": "由您自己的浏览器核验，而非仅凭信任：本证上的每一条记录都由作出它的合作方签名，并记入公开日志；任何人（包括 Goldtrail）都无法在不被发现的情况下改写。",
        "technical": "技术细节",
        "piece": "这件实物",
        "piece_bar": "金条标记：{marks}。",
        "piece_assay": "已登记化验证书（SHA-256 {digest}…）。",
        "piece_fingerprint": "已登记表面指纹（SHA-256 {digest}…）。",
        "piece_tag": "附有无法复制的 NFC 芯片（自 {since} 起）：用手机触碰即可验证这件实物本身。",
        "piece_claimed": "已由物主于 {at} 认领。",
        "piece_unclaimed": "尚未认领：物主的一次性认领码随实物附送。",
        "piece_refused": "已拒绝 {count} 次使用错误或已用认领码的认领。",
        "title": "绿色身份证",
        "lot": "批次",
        "grade": "绿色等级",
        "grade_note": "A 最好，E 最差；按每千克纯金的碳排放评定",
        "fine_gold": "纯金含量",
        "carbon": "碳强度",
        "carbon_unit": "千克二氧化碳当量 / 千克纯金",
        "carbon_unit_short": "千克二氧化碳当量/千克",
        "benchmark": "金矿平均水平（世界黄金协会）",
        "of_benchmark": "（相当于金矿平均水平的比例）",
        "recycled": "再生金比例",
        "certified": "认证",
        "none": "无",
        "countries": "原产国",
        "conflict_free": "无冲突来源",
        "mercury_free": "无汞",
        "yes": "是",
        "no": "否",
        "unknown": "未声明",
        "journey": "流转历程",
        "custodian": "当前持有方",
        "verification": "验证",
        "server_ok": "Goldtrail 验证程序已核对本护照的全部签名、链接、证明和数据。",
        "server_bad": "警告：本护照未通过验证，请勿信赖。",
        "browser_checking": "您的浏览器正在独立核验本护照……",
        "browser_ok": "您的浏览器也已独立核验，无需信任任何服务器：",
        "browser_bad": "您的浏览器发现本护照已被篡改：",
        "browser_cannot": "此浏览器不支持 Ed25519 签名验证，无法独立核验本护照。请使用最新版浏览器，或运行：goldtrail verify passport.json",
        "browser_scope": "浏览器核验哈希、签名、链式链接、透明日志证明和检查点。各项指标的计算由 goldtrail verify 复核，并受服务签名保护。",
        "checked": "核验内容",
        "download": "护照（JSON）",
        "credential": "可验证凭证",
        "certificate": "可打印证书（PDF）",
        "qr_alt": "指向本页的二维码",
        "switch": "English",
        "from": "来自",
        "to": "制成",
        "not_found": "未找到该批次",
        "not_found_text": "Goldtrail 中没有此编号的批次，请核对卡片上的编号。",
        "stage.exploration": "勘探",
        "stage.mining": "开采",
        "stage.smelting": "冶炼与精炼",
        "stage.circulation": "流通",
        "stage.sale": "销售",
        "checkpoint": "已在透明日志检查点中证明",
        "grams": "克",
        "per_mille": "‰",
        "deeper": "深入核验：逐一核验各原料批次的护照",
        "deeper_checking": "您的浏览器正在核验本批次原料批次的护照……",
        "deeper_ok": "本批次的每个原料批次都有可通过核验的护照，所用摘要位于其链上：",
        "deeper_bad": "有原料批次的护照未通过核验：",
        "upstream": "原料来源",
        "upstream_note": "各原料批次在被使用时由服务记录的摘要（原产国、比例与排放）；原料批次自己的护照展示其完整历程。",
        "used_up": "已于 {date} 由 {partner} 用尽：{action}，制成 {lots}。以下数据为该批次用尽前的状态。",
        "status": "状态",
        "input_gold": "纯金",
        "dash": "—",
        "certificate_title": "绿色黄金证书",
        "recycled_share": "再生金比例",
        "certified_shares": "认证比例",
        "chain_head": "链头",
        "passport_digest": "护照 SHA-256",
        "issued": "签发时间",
        "check_yourself": "自行核验：打开 {url}，或下载护照并运行 'goldtrail verify passport.json --log-key <日志公钥>'。",
        "per_kg_fine": "千克二氧化碳当量 / 千克纯金",
        "average_mine": "金矿平均水平",
        "lot_form": "{form} {mass}\u00a0克，成色 {fineness}\u00a0‰",
        "lot_bulk": "{form} {tonnes}\u00a0吨，品位 {grade}\u00a0克/吨",
        "form.deposit": "矿床",
        "form.ore": "矿石",
        "form.concentrate": "精矿",
        "form.dore": "合质金",
        "form.bar": "金条",
        "form.grain": "金粒",
        "form.semi-finished": "半成品",
        "form.jewellery": "首饰",
        "form.scrap": "废料",
    },
}

TAP_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "NFC tag check",
        "genuine": "Genuine tag",
        "genuine_text": "This tag is genuine: tap number {counter}, read just now.",
        "replay": "This link was already used",
        "replay_text": (
            "This address was made by the tag at an earlier tap (number {counter}). A tag writes "
            "a new address at every tap, so an old one is a copy: it proves nothing about the "
            "piece in front of you. Tap the tag itself."
        ),
        "first_seen": "First seen on {at}.",
        "invalid": "Not a genuine tag message",
        "invalid_text": "This address was not written by this tag: {reason}.",
        "unknown": "Unknown tag",
        "unknown_text": "No tag with this number is registered with Goldtrail.",
        "bound": "Bound to lot {lot} since {since}.",
        "closed": (
            "It was bound to lot {lot}, which has since been melted, split or made into "
            "something else: this tag no longer speaks for a piece."
        ),
        "unbound": "This tag is not bound to any piece.",
        "see_card": "See the green ID card of this piece",
        "not_verified": "Not verified",
    },
    "zh": {
        "title": "NFC 芯片验证",
        "genuine": "芯片真实",
        "genuine_text": "这枚芯片是真实的：第 {counter} 次读取，刚刚读出。",
        "replay": "此链接已被使用过",
        "replay_text": (
            "这个地址是芯片在较早一次读取（第 {counter} 次）时生成的。芯片每次读取都会生成新地址，"
            "旧地址就是复制品，不能证明您面前的这件实物。请直接用手机触碰芯片。"
        ),
        "first_seen": "首次出现于 {at}。",
        "invalid": "不是真实芯片生成的信息",
        "invalid_text": "这个地址不是由这枚芯片生成的：{reason}。",
        "unknown": "未知芯片",
        "unknown_text": "Goldtrail 没有登记这个编号的芯片。",
        "bound": "自 {since} 起绑定于批次 {lot}。",
        "closed": "它曾绑定于批次 {lot}，该批次此后已被熔炼、分割或制成他物：这枚芯片已不再代表任何实物。",
        "unbound": "这枚芯片没有绑定任何实物。",
        "see_card": "查看这件实物的绿色身份证",
        "not_verified": "未通过验证",
    },
}

_ACTIONS: dict[str, dict[str, str]] = {
    "en": {
        "site_registered": "Site registered",
        "permit_granted": "Permit granted",
        "impact_assessed": "Impact assessed",
        "extracted": "Ore extracted",
        "recycled_intake": "Recycled gold taken in",
        "smelted": "Smelted",
        "refined": "Refined",
        "assayed": "Assayed",
        "cast": "Cast",
        "merged": "Merged",
        "split": "Split",
        "fabricated": "Made into jewellery",
        "transferred": "Handed over",
        "received": "Received",
        "shipped": "Shipped",
        "vaulted": "Vaulted",
        "sold": "Sold",
        "bar_identified": "Bar marked and recorded",
        "tag_bound": "NFC tag attached",
        "tag_unbound": "NFC tag removed",
        "claim_code_set": "Owner's claim code issued",
    },
    "zh": {
        "site_registered": "矿区登记",
        "permit_granted": "获得许可",
        "impact_assessed": "环境影响评估",
        "extracted": "开采矿石",
        "recycled_intake": "回收金入库",
        "smelted": "冶炼",
        "refined": "精炼",
        "assayed": "化验",
        "cast": "铸造",
        "merged": "合并",
        "split": "分割",
        "fabricated": "制成首饰",
        "transferred": "移交",
        "received": "接收",
        "shipped": "运输",
        "vaulted": "入库保管",
        "sold": "售出",
        "bar_identified": "金条标识登记",
        "tag_bound": "绑定 NFC 芯片",
        "tag_unbound": "解除 NFC 芯片",
        "claim_code_set": "发放认领码",
    },
}


def words(language: str) -> dict[str, str]:
    table = dict(_WORDS[language])
    table.update({f"action.{k}": v for k, v in _ACTIONS[language].items()})
    return table


def choose(accept_language: str | None, requested: str | None) -> str:
    """``?lang=`` if given, else the first of Accept-Language's languages we speak, else zh."""
    if requested in LANGUAGES:
        return str(requested)
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else "zh"


@lru_cache(maxsize=2)
def _country_names(language: str) -> gettext.NullTranslations:
    if language == "zh":
        return gettext.translation(
            "iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"], fallback=True
        )
    return gettext.NullTranslations()


def country_name(code: str, language: str) -> str:
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return _country_names(language).gettext(str(country.name))
