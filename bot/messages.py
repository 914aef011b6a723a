"""Everything the bot says, in Simplified Chinese (the default) and English."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "greet": (
        "您好！这里是信访和12345在线受理。我可以帮您：反映问题（投诉、求助、建议）、查询办理进度、补充材料、评价答复。请直接说说您遇到的问题。",
        "Hello! This is the online petition and 12345 service. I can help you file a complaint or request, check the "
        "progress of a petition, add information, or give feedback on a reply. Just tell me what happened.",
    ),
    "help": (
        "您可以：\n· 直接描述问题，我会一步步帮您登记\n· 发送“查询 + 受理编号”查询进度\n· 发送“补充材料”补充内容\n"
        "· 发送“转人工”联系工作人员\n· 发送“取消”放弃当前登记，“English”切换英文",
        "You can:\n· describe your problem and I will register it step by step\n· send \"status\" with your tracking "
        "number to check progress\n· send \"add information\" to supplement a petition\n· send \"agent\" to talk to a "
        "person\n· send \"cancel\" to stop, \"中文\" to switch to Chinese",
    ),
    "thanks": ("不客气，还有其他需要帮助的吗？", "You're welcome. Is there anything else I can help with?"),
    "goodbye": ("感谢您的反映，再见！", "Thank you for contacting us. Goodbye!"),
    "out_of_scope": (
        "抱歉，这个问题不在信访和12345受理范围内。我可以帮您反映问题、查询进度或补充材料。",
        "Sorry, that is outside what this service handles. I can help you file a petition, check its progress or "
        "add information.",
    ),
    "not_understood": ("抱歉，我没有理解。", "Sorry, I did not understand that."),
    "cancelled": ("已取消本次登记，已填写的内容不会提交。有需要可以随时重新开始。",
                  "Cancelled: nothing was submitted. You can start again at any time."),
    "restarted": ("好的，我们重新开始。请说说您遇到的问题。", "OK, let's start over. Please tell me what happened."),
    "language_switched": ("已切换为中文。", "Switched to English."),
    "empty": ("您好像没有输入内容，请用文字描述您的问题。", "Your message seems empty. Please describe your problem in words."),
    "too_long": ("内容较长，我已完整记录。", "That is a long message; I have recorded all of it."),
    "ask_description": ("请描述您要反映的问题：发生了什么？", "Please describe the problem: what happened?"),
    "ask_more_description": ("收到，已补充到问题描述中。", "Got it, added to the description."),
    "ask_area": (
        "这件事发生在哪里？请告诉我所在的区县和街道或详细地址，例如：岳麓区麓谷街道枫林三路12号。",
        "Where did this happen? Please give the district and street or address, e.g. Yuelu District, Lugu Street, "
        "12 Fenglin Road.",
    ),
    "area_unknown": (
        "抱歉，没有找到“{text}”对应的地区。本平台受理以下区县：{areas}。请告诉我具体在哪个区县。",
        "Sorry, I could not find \"{text}\" among our areas. We cover: {areas}. Which district is it in?",
    ),
    "ask_address_detail": ("已记录在{area}。能再告诉我详细地址吗（街道、小区或门牌号）？不清楚可以回复“跳过”。",
                           "Noted: {area}. Can you give the street, estate or house number? Reply \"skip\" if you "
                           "don't know."),
    "ask_occurred": ("这件事是什么时候发生的？（例如：上周三、三个月前；不记得可以回复“跳过”）",
                     "When did it happen? (e.g. last Wednesday, 3 months ago; reply \"skip\" if you don't know)"),
    "ask_demand": ("您希望有关部门怎么处理？请说明您的诉求。", "What would you like the authorities to do?"),
    "ask_head_count": ("这件事涉及多少人？（只有您本人请回复“1”）", "How many people are affected? (reply \"1\" if only you)"),
    "head_count_invalid": ("请回复一个人数，例如：1、5、三十。", "Please reply with a number of people, e.g. 1, 5, 30."),
    "collective_note": ("涉及{n}人，已按集体诉求登记。根据规定，集体反映请推选不超过5名代表。",
                        "{n} people: registered as a collective petition. Collective petitions send at most 5 "
                        "representatives."),
    "ask_previous": ("您之前是否就这件事反映过？如果反映过，请提供当时的受理编号。",
                     "Have you petitioned about this before? If so, please give the earlier tracking number."),
    "ask_previous_number": ("请提供之前的受理编号（形如 XF-20260101-000001），不记得可以回复“不记得”。",
                            "Please give the earlier tracking number (like XF-20260101-000001), or reply \"don't "
                            "remember\"."),
    "ask_name": ("请问怎么称呼您？您也可以选择匿名反映。", "May I have your name? You may also stay anonymous."),
    "ask_phone": ("请留下联系电话，便于办理单位联系您（可回复“跳过”）。",
                  "Please leave a phone number so the handling unit can reach you (or reply \"skip\")."),
    "phone_invalid": ("这个号码好像不正确，请输入11位手机号或带区号的固定电话，或回复“跳过”。",
                      "That number does not look right. Please give an 11-digit mobile or a landline with area code, "
                      "or reply \"skip\"."),
    "ask_consent": (
        "隐私说明：您提供的信息仅用于办理本信访事项，姓名、电话和身份证号加密保存，仅办理人员可见。您是否同意？",
        "Privacy notice: what you tell us is used only to handle this petition; your name, phone and ID number are "
        "stored encrypted and seen only by the staff handling it. Do you agree?",
    ),
    "consent_refused": (
        "没有您的同意，我们无法在线登记。您也可以拨打12345或到信访接待场所当面反映。本次登记已取消。",
        "Without your consent we cannot register the petition online. You can call 12345 or visit a petition "
        "reception office instead. This petition has been cancelled.",
    ),
    "confirm": ("请核对以下信息：\n{summary}\n\n确认无误请回复“确认提交”；需要修改请直接说，例如“地址改成……”。",
                "Please check:\n{summary}\n\nReply \"submit\" if correct, or tell me what to change, e.g. \"change "
                "the address to …\"."),
    "confirm_which": ("请告诉我要修改哪一项，例如：“地址改成岳麓区……”“诉求改成……”。",
                      "Tell me what to change, e.g. \"change the address to …\" or \"change the demand to …\"."),
    "corrected": ("已修改。", "Changed."),
    "registered": (
        "您的信访事项已登记。\n受理编号：{tracking_no}\n查询码：{code}\n我们将在{due}前告知您是否受理。请保存好受理编号和查询码，用于查询进度。",
        "Your petition has been registered.\nTracking number: {tracking_no}\nQuery code: {code}\nWe will tell you "
        "whether it is accepted by {due}. Keep the tracking number and query code to check its progress.",
    ),
    "register_failed": ("抱歉，登记时出现问题：{reason}。请修改后再确认提交。",
                        "Sorry, the petition could not be registered: {reason}. Please correct it and submit again."),
    "ask_tracking_no": ("请提供受理编号（形如 XF-20260101-000001）。", "Please give the tracking number (like XF-20260101-000001)."),
    "ask_query_code": ("请提供受理时获得的8位查询码。", "Please give the 8-character query code you received."),
    "petition_not_found": ("没有找到该受理编号，或查询码不正确，请核对后重试。",
                           "No petition found with that tracking number and query code. Please check and try again."),
    "status": ("受理编号：{tracking_no}\n当前状态：{status}\n办理单位：{unit}\n{due_line}{reply_line}",
               "Tracking number: {tracking_no}\nStatus: {status}\nHandling unit: {unit}\n{due_line}{reply_line}"),
    "status_due": ("办理期限：{due}\n", "Due: {due}\n"),
    "status_reply": ("最新答复（{date}）：{text}", "Latest reply ({date}): {text}"),
    "unit_pending": ("待分派", "not yet assigned"),
    "your_petitions": ("您通过本渠道提交的信访事项：\n{lines}\n回复受理编号可查看详情。",
                       "Petitions you filed here:\n{lines}\nReply with a tracking number for details."),
    "ask_supplement": ("请发送要补充的内容（文字、图片或文件）。", "Please send what you want to add (text, image or file)."),
    "supplement_added": ("已将补充内容加入信访事项 {tracking_no}，办理单位可以看到。",
                         "Added to petition {tracking_no}; the handling unit can see it."),
    "supplement_closed": ("信访事项 {tracking_no} 已{status}，不能再补充。如有新情况，可以重新反映。",
                          "Petition {tracking_no} is {status} and can no longer be supplemented. You may file a new one."),
    "feedback_no_reply": ("信访事项 {tracking_no} 还没有答复，答复后您可以评价。",
                          "Petition {tracking_no} has no reply yet; you can give feedback once it is answered."),
    "feedback_thanks": ("感谢您的评价，信访事项 {tracking_no} 已办结。", "Thank you for your feedback; petition {tracking_no} is closed."),
    "ask_feedback": ("您对答复满意吗？", "Are you satisfied with the reply?"),
    "ask_unsatisfied_reason": ("请告诉我们您不满意的原因。", "Please tell us why you are not satisfied."),
    "offer_review": ("已记录您的意见。您可以在{due}前申请复查，需要现在申请吗？",
                     "Your feedback is recorded. You may request a review by {due}. Request one now?"),
    "review_window_closed": ("已记录您的意见。申请复查的期限已过（{due}）。",
                             "Your feedback is recorded. The time to request a review ended on {due}."),
    "review_requested": ("已为信访事项 {tracking_no} 提交复查申请，复查机关将在{due}前答复。",
                         "A review of petition {tracking_no} has been requested; it will be answered by {due}."),
    "review_declined": ("好的，如有需要可以在期限内再申请复查。", "OK. You can still request a review within the time limit."),
    "handoff": ("正在为您转接人工客服，请稍候，工作人员会在这里回复您。",
                "Connecting you to a staff member. Please wait; they will reply here."),
    "waiting": ("已为您转接人工，工作人员会尽快回复，请稍候。", "You are in the queue for a staff member; they will reply soon."),
    "safety": (
        "您的安全最重要。如果您或他人正面临危险，请立即拨打110（报警）或120（急救）。心理援助热线：12356。我正在为您转接工作人员。",
        "Your safety comes first. If you or someone else is in danger, call 110 (police) or 120 (ambulance) now. "
        "Psychological support hotline: 12356. I am connecting you to a staff member.",
    ),
    "agent_joined": ("工作人员{agent}已接入对话。", "Staff member {agent} has joined the conversation."),
    "bot_back": ("工作人员已结束人工服务，智能助手继续为您服务。", "The staff member has left; the assistant is back."),
    "closed": ("本次对话已结束，感谢您的反映。如需帮助，可以随时发送消息。",
               "This conversation has ended. Thank you. Send a message any time if you need help."),
    "consult_answer": ("关于您咨询的问题，可参考以下答复：\n{answer}\n（{source}{validity}）",
                       "Here is an answer to your question:\n{answer}\n({source}{validity})"),
    "consult_valid_until": ("，有效期至{date}", "; valid until {date}"),
    "consult_ask": ("这个答复对您有帮助吗？如果没有解决您的问题，我可以帮您登记，由相关部门正式答复。",
                    "Did this answer help? If it did not solve your problem, I can register it for the responsible "
                    "department to answer."),
    "consult_reask": ("请告诉我这个答复是否有帮助：回复“有帮助”或“没有帮助”。",
                      "Please tell me whether the answer helped: reply \"Helpful\" or \"Not helpful\"."),
    "consult_glad": ("很高兴能帮到您！如还有其他问题，随时可以咨询或反映。",
                     "Glad it helped! Ask me anything else, or tell me about a problem, any time."),
    "consult_to_intake": ("抱歉没能解决您的问题。我来帮您登记，由相关部门答复您，您刚才说的内容已经记下了。",
                          "Sorry that did not solve it. I will register it for the responsible department to answer; "
                          "what you told me is already noted."),
    "consult_none": ("这个问题暂时没有找到现成的答复。我来帮您登记，由相关部门答复您。",
                     "I could not find a ready answer to that question. I will register it for the responsible "
                     "department to answer."),
    "skipped": ("跳过", "skipped"),
    "anonymous": ("匿名", "anonymous"),
    "none": ("无", "none"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
}

QUICK: dict[str, tuple[list[str], list[str]]] = {
    "greet": (["我要反映问题", "查询进度", "转人工"], ["File a complaint", "Check status", "Talk to a person"]),
    "skip": (["跳过"], ["Skip"]),
    "previous": (["没有反映过", "反映过"], ["No", "Yes"]),
    "name": (["匿名"], ["Stay anonymous"]),
    "consent": (["同意", "不同意"], ["I agree", "I do not agree"]),
    "confirm": (["确认提交", "修改", "取消"], ["Submit", "Change something", "Cancel"]),
    "head_count": (["1", "2-4人", "5人以上"], ["1", "2-4", "5 or more"]),
    "review": (["申请复查", "不用了"], ["Request a review", "No thanks"]),
    "feedback": (["满意", "不满意"], ["Satisfied", "Not satisfied"]),
    "consult": (["有帮助", "没有帮助"], ["Helpful", "Not helpful"]),
}

SLOT_LABELS: dict[str, tuple[str, str]] = {
    "description": ("问题描述", "What happened"),
    "area": ("地点", "Where"),
    "occurred": ("发生时间", "When"),
    "demand": ("诉求", "Demand"),
    "head_count": ("涉及人数", "People involved"),
    "previous": ("此前是否反映", "Petitioned before"),
    "name": ("姓名", "Name"),
    "phone": ("联系电话", "Phone"),
}

STATUS_NAMES: dict[str, tuple[str, str]] = {
    "registered": ("已登记，待受理", "registered, awaiting acceptance"),
    "accepted": ("已受理", "accepted"),
    "not_accepted": ("不予受理", "not accepted"),
    "forwarded": ("已转送其他机关", "forwarded to another authority"),
    "assigned": ("已交办", "assigned"),
    "in_progress": ("办理中", "in progress"),
    "replied": ("已答复", "replied"),
    "closed": ("已办结", "closed"),
    "review_requested": ("已申请复查", "review requested"),
    "under_review": ("复查中", "under review"),
    "review_replied": ("已复查答复", "review answered"),
    "reexam_requested": ("已申请复核", "re-examination requested"),
    "under_reexam": ("复核中", "under re-examination"),
    "final": ("复核终结", "final"),
    "withdrawn": ("已撤回", "withdrawn"),
    "merged": ("已合并办理", "merged with another petition"),
}


def lang_index(locale: str) -> int:
    """Return 0 for Chinese locales and 1 for English."""
    return 1 if locale.lower().startswith("en") else 0


def t(key: str, locale: str, **values: object) -> str:
    """Return a message in the locale, filled with values."""
    text = TEXTS[key][lang_index(locale)]
    return text.format(**values) if values else text


def quick(key: str, locale: str) -> list[str]:
    """Return the quick-reply buttons for a prompt in the locale."""
    return list(QUICK[key][lang_index(locale)])


def status_name(status: str, locale: str) -> str:
    """Return a status as the citizen should read it."""
    return STATUS_NAMES.get(status, (status, status))[lang_index(locale)]
