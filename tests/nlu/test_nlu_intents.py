"""Intent classification on utterances that are not in the training data, and the Rasa YAML reader."""

import pytest

from nlu.intents import DEFAULT_DATA, INTENTS, IntentClassifier, is_long, load_training_data

# Formulaic messages: the rules must get every one of these right.
FORMULAIC = [
    ("您好呀", "greet"), ("Hello!", "greet"), ("hey there", "greet"), ("早上好", "greet"),
    ("谢谢您！", "thanks"), ("Thank you so much", "thanks"), ("太感谢了", "thanks"),
    ("拜拜啦", "goodbye"), ("Goodbye!", "goodbye"), ("See you!", "goodbye"), ("好的，拜拜", "goodbye"),
    ("是的。", "affirm"), ("好的", "affirm"), ("OK", "affirm"), ("Yes", "affirm"), ("确认", "affirm"), ("提交", "affirm"),
    ("没问题", "affirm"), ("correct", "affirm"), ("submit", "affirm"),
    ("不是", "deny"), ("不对", "deny"), ("没有", "deny"), ("不用了，谢谢", "deny"), ("No", "deny"), ("nope", "deny"),
    ("转人工", "human_handoff"), ("人工客服", "human_handoff"), ("agent", "human_handoff"), ("找工作人员", "human_handoff"),
    ("talk to a person", "human_handoff"),
    ("English please", "switch_language"), ("说中文", "switch_language"), ("切换到英文", "switch_language"),
    ("取消", "cancel"), ("算了", "cancel"), ("重新开始", "restart"), ("start over", "restart"),
    ("匿名", "anonymous"), ("帮助", "help"), ("?", "help"), ("查询进度", "query_status"), ("我要补充材料", "supplement"),
    ("满意", "feedback_satisfied"), ("不满意", "feedback_unsatisfied"), ("申请复查", "request_review"),
]

# Free-text messages a citizen might write; none of them is in nlu.yml.
HELDOUT = [
    ("我上个月提交的那个投诉现在处理到哪了", "query_status"),
    ("请问XF-20261101-000042这个件办好了没有", "query_status"),
    ("我三月份反映的噪音问题有进展了吗", "query_status"),
    ("Is there any news about my complaint?", "query_status"),
    ("I'd like to know the progress of my case", "query_status"),
    ("When will my complaint be processed?", "query_status"),
    ("我想把欠条照片也发给你们，补充到上次的投诉里", "supplement"),
    ("我还有几张现场照片需要补交", "supplement"),
    ("I want to upload more pictures for my case", "supplement"),
    ("I have a new document to add to my complaint", "supplement"),
    ("问题已经解决了，非常感谢你们，很满意", "feedback_satisfied"),
    ("这次处理得很及时，我很满意", "feedback_satisfied"),
    ("They fixed it, I'm very happy with the outcome", "feedback_satisfied"),
    ("I'm happy, the issue is resolved now", "feedback_satisfied"),
    ("回复写得好听，可噪音一点没少，不满意", "feedback_unsatisfied"),
    ("答复根本没解决我的问题，很不满意", "feedback_unsatisfied"),
    ("I'm not satisfied, the noise is still there", "feedback_unsatisfied"),
    ("The response was useless and nothing was done", "feedback_unsatisfied"),
    ("对这个处理意见我不服，我要申请复查", "request_review"),
    ("我对答复不服，想申请复核", "request_review"),
    ("I want to appeal this decision", "request_review"),
    ("I want my case to be reviewed again", "request_review"),
    ("我要投诉一家快递公司", "file_petition"),
    ("我想向你们反映我们村的问题", "file_petition"),
    ("我要举报一个无证经营的黑作坊", "file_petition"),
    ("I want to complain about the noise from a bar", "file_petition"),
    ("I'd like to submit a complaint about my employer", "file_petition"),
    ("我能不能不留真实姓名", "anonymous"),
    ("我怕被打击报复，能不留名吗", "anonymous"),
    ("Can I do this without giving my name?", "anonymous"),
    ("I don't want to be identified", "anonymous"),
    ("我想和你们的工作人员直接通话", "human_handoff"),
    ("麻烦给我转一下人工", "human_handoff"),
    ("Please let me talk to a real person", "human_handoff"),
    ("I need to speak with a human agent", "human_handoff"),
    ("能切换成英文模式吗", "switch_language"),
    ("能不能用英语回复我", "switch_language"),
    ("I can't read Chinese, can you use English", "switch_language"),
    ("Please reply in Chinese", "switch_language"),
    ("我不想投诉了，取消吧", "cancel"),
    ("Please cancel it", "cancel"),
    ("我想从头再填一遍", "restart"),
    ("Let me start from scratch", "restart"),
    ("对，就是这样", "affirm"),
    ("Yes, that's correct", "affirm"),
    ("不对，地址写错了", "deny"),
    ("no, that's not right", "deny"),
    ("早上好，请问有人在吗", "greet"),
    ("Thanks so much for helping", "thanks"),
    ("你能帮我查一下明天的航班吗", "out_of_scope"),
    ("你知道今天的油价吗", "out_of_scope"),
    ("Tell me something funny", "out_of_scope"),
    ("What's the best phone to buy?", "out_of_scope"),
    ("还有什么其他功能吗", "help"),
    ("怎么使用这个系统", "help"),
    ("What can this bot help me with?", "help"),
    ("How do I get started?", "help"),
    ("我们小区的电梯坏了一个多月，物业一直拖着不修", "inform"),
    ("厂里拖欠我们二十多个工人四个月的工资，老板电话也打不通", "inform"),
    ("附近养猪场臭味很大，夏天根本不敢开窗", "inform"),
    ("孩子的学校食堂饭菜不干净，好几个学生吃坏了肚子", "inform"),
    ("我父亲的养老金从九月开始就停发了", "inform"),
    ("老房子拆迁的补偿款到现在还没有给我们", "inform"),
    ("小区旁边的KTV每天放歌到凌晨", "inform"),
    ("拆迁办答应给的安置房三年了还没交付", "inform"),
    ("医保卡里的钱被别人刷了", "inform"),
    ("公司不签劳动合同，还扣我们押金", "inform"),
    ("雨花区东塘街道", "inform"),
    ("岳麓区望岳街道", "inform"),
    ("大概有四十个人", "inform"),
    ("大概二十来个人", "inform"),
    ("The factory next to our village dumps chemicals into the stream", "inform"),
    ("My company hasn't paid social insurance for me for a year", "inform"),
    ("The landlord raised the rent and cut off our water", "inform"),
    ("The neighbour's dog barks all night", "inform"),
    ("Our school bus was cancelled without notice", "inform"),
    ("喂，你好", "greet"),
    ("在线吗", "greet"),
    ("谢了", "thanks"),
    ("先这样吧，再见", "goodbye"),
    ("嗯，对的", "affirm"),
    ("没了", "deny"),
    ("不弄了，取消掉", "cancel"),
    ("我想重新来过", "restart"),
    ("请转接人工坐席", "human_handoff"),
    ("我要跟真人说", "human_handoff"),
    ("Can you switch to Chinese?", "switch_language"),
    ("我的工单XF-20261015-000321有回复了吗", "query_status"),
    ("上周反映的漏水问题处理了没", "query_status"),
    ("What happened with my report from last week?", "query_status"),
    ("刚才忘了说，还要补充一张发票照片", "supplement"),
    ("I'd like to attach the contract to my existing case", "supplement"),
    ("事情办好了，给你们点个赞", "feedback_satisfied"),
    ("处理结果我不接受，问题依旧", "feedback_unsatisfied"),
    ("我要求对这个答复进行复查", "request_review"),
    ("Can my case be reviewed by a higher office?", "request_review"),
    ("我要投诉一个黑车司机", "file_petition"),
    ("我想举报邻居违建", "file_petition"),
    ("I need to make a complaint", "file_petition"),
    ("我不愿意透露姓名", "anonymous"),
    ("帮我查下明天的高铁票", "out_of_scope"),
    ("你会下象棋吗", "out_of_scope"),
    ("菜市场的摊贩占道经营，路都堵死了", "inform"),
    ("物业把小区绿地改成了停车场", "inform"),
    ("单位一直不给我们缴纳公积金", "inform"),
    ("学校要求家长必须买指定的校服", "inform"),
    ("The elevator in our building has been broken for weeks", "inform"),
    ("They are burning plastic behind the factory every night", "inform"),
    ("芙蓉区", "inform"),
    ("大约十五户", "inform"),
    ("从今年六月份开始的", "inform"),
    ("这个系统能干什么", "help"),
]


@pytest.fixture(scope="module")
def classifier():
    return IntentClassifier.from_yaml()


def test_test_sentences_are_not_training_examples():
    seen = {example for examples in load_training_data(DEFAULT_DATA).values() for example in examples}
    assert not seen & {text for text, _ in HELDOUT}


def test_training_data_covers_every_intent():
    data = load_training_data(DEFAULT_DATA)
    assert set(data) == set(INTENTS)
    assert all(len(data[intent]) >= 25 for intent in INTENTS)
    assert len(data["inform"]) >= 100


@pytest.mark.parametrize(("text", "intent"), FORMULAIC)
def test_formulaic_messages_are_exact(classifier, text, intent):
    got, confidence, ranking = classifier.predict(text)
    assert got == intent
    assert confidence >= 0.9
    assert ranking[0] == (got, confidence)


def test_heldout_accuracy(classifier):
    misses = [(text, want, classifier.predict(text)[0]) for text, want in HELDOUT
              if classifier.predict(text)[0] != want]
    accuracy = 1 - len(misses) / len(HELDOUT)
    assert len(HELDOUT) >= 40
    assert accuracy >= 0.9, misses


def test_prediction_shape(classifier):
    intent, confidence, ranking = classifier.predict("我家楼下的餐馆油烟太大了")
    assert intent == "inform"
    assert len(ranking) == 3
    assert [p for _, p in ranking] == sorted((p for _, p in ranking), reverse=True)
    assert all(i in INTENTS for i, _ in ranking)
    assert 0.0 < confidence <= 1.0


def test_long_messages_are_descriptions(classifier):
    text = "你好，我想说一下，我们这边的菜市场每天早上五点就开始卸货，吵得整栋楼的人都睡不好觉"
    assert is_long(text)
    assert classifier.predict(text)[0] in ("inform", "file_petition")
    story = "Hello, good morning, thank you, the street market near us starts unloading trucks at five every morning"
    assert classifier.predict(story)[0] in ("inform", "file_petition")


def test_long_status_question_keeps_its_intent(classifier):
    text = "我在上个月十号提交的关于小区噪音的投诉，到现在都没有人联系我，想问问办理进度怎么样了"
    assert classifier.predict(text)[0] == "query_status"


def test_traditional_and_full_width_input(classifier):
    assert classifier.predict("我要舉報")[0] == "file_petition"
    assert classifier.predict("ｙｅｓ")[0] == "affirm"


def test_empty_message(classifier):
    assert classifier.predict("")[0] == "inform"


def test_load_training_data_reads_rasa_syntax(tmp_path):
    path = tmp_path / "nlu.yml"
    path.write_text('''version: "3.1"
nlu:
- intent: inform
  examples: |
    - 我住在[岳麓区](district)[麓谷街道](street)
    - 我们有[30](head_count)个人
    - it is on [Fenglin Road]{"entity": "address", "role": "home"}
    - [昨天](date:2026-12-03)开始的
- synonym: 岳麓区
  examples: |
    - 岳麓
- regex: tracking_no
  examples: |
    - XF-\\d{8}-\\d{6}
- lookup: district
  examples: |
    - 雨花区
- intent: greet
  metadata:
    language: zh
  examples: |
    - 你好
    -   hello
- intent: inform
  examples: |
    - 另一个块
''', encoding="utf-8")
    assert load_training_data(path) == {
        "inform": ["我住在岳麓区麓谷街道", "我们有30个人", "it is on Fenglin Road", "昨天开始的", "另一个块"],
        "greet": ["你好", "hello"],
    }


def test_classifier_trains_on_any_data():
    classifier = IntentClassifier({"greet": ["你好", "hello", "hi"], "inform": ["楼下很吵", "工资没发", "路灯坏了"]})
    assert classifier.predict("楼上很吵")[0] == "inform"
    with pytest.raises(ValueError):
        IntentClassifier({"greet": ["你好"]})
