"""Inputs a rewriter must return unchanged besides clean questions: questions in other languages, and greetings
or thanks that hold no question. Each is an identity pair (input == output). The project's guard
(qrewrite/skip.py, skip_reason) leaves every one of them alone before asking the model; the model
learns to do the same, for when it runs without the guard. tests/test_dataset.py checks that the guard agrees.
"""

from __future__ import annotations

import itertools
import random

from dataset.sources import SizeError, held_out_key

# shares of a split's pairs (of its size): identity pairs besides the clean copies of English questions
LEFT_ALONE_RATES = {"non_english": 0.02, "greeting_only": 0.015}
LEFT_ALONE_DESCRIPTIONS = {
    "non_english": "question in another language (Spanish, French, German, Russian, Chinese, Arabic, ...): unchanged",
    "greeting_only": "greeting or thanks with no question (\"hi!\", \"Thanks so much :)\"): unchanged",
}

NON_ENGLISH_LANGUAGES = ("Spanish", "French", "German", "Italian", "Portuguese", "Dutch", "Russian", "Ukrainian",
                         "Chinese", "Japanese", "Korean", "Arabic", "Hindi", "Greek", "Hebrew", "Thai", "Vietnamese")
# Written for this project. One topic per line, as a user would type it (some without accents or "?").
NON_ENGLISH = [
    # Spanish
    "¿Dónde está la estación de tren más cercana?", "¿Cuánto cuesta un billete de autobús a Madrid?",
    "¿Cómo puedo cambiar la contraseña de mi cuenta?", "¿Qué hora es en Buenos Aires ahora?",
    "¿Por qué mi teléfono se apaga solo cuando tiene batería?", "¿Hay una farmacia abierta cerca de aquí?",
    "¿Cuál es la mejor manera de aprender inglés en casa?", "¿Puedo devolver un producto sin el ticket?",
    "como hago para cancelar mi suscripcion", "¿A qué temperatura se hornea el pan?",
    # French
    "Où est la gare la plus proche ?", "Comment est-ce que je peux réinitialiser mon mot de passe ?",
    "Pourquoi mon ordinateur est-il si lent ?", "Quel est le meilleur moment pour visiter Paris ?",
    "Est-ce que je peux payer par carte dans ce magasin ?", "Combien de temps faut-il pour cuire des pâtes ?",
    "Qui a écrit Les Misérables ?", "comment je fais pour annuler ma commande", "Quelle est la capitale du Canada ?",
    "Est-ce que la pharmacie est ouverte le dimanche ?",
    # German
    "Wo ist der nächste Bahnhof?", "Wie kann ich mein Passwort zurücksetzen?",
    "Warum ist mein Laptop so langsam?", "Wann öffnet die Post am Samstag?",
    "Kann ich mit Karte bezahlen?", "Wie lange muss ich die Eier kochen?",
    "Was ist der Unterschied zwischen Mehl Typ 405 und 550?", "wie kann ich meine Bestellung stornieren",
    "Gibt es hier in der Nähe eine Apotheke?", "Welche Dokumente brauche ich für einen Reisepass?",
    # Italian
    "Dove si trova la stazione più vicina?", "Come posso cambiare la password del mio account?",
    "Perché il mio telefono si scarica così velocemente?", "Quanto costa un biglietto per Roma?",
    "Qual è il modo migliore per cucinare la pasta?", "A che ora chiude il supermercato?",
    "Chi ha dipinto la Gioconda?", "come posso annullare il mio ordine",
    # Portuguese
    "Onde fica a estação de metrô mais próxima?", "Como posso mudar a senha da minha conta?",
    "Quanto custa uma passagem para Lisboa?", "Por que o meu celular não carrega?",
    "Qual é o melhor horário para visitar o Cristo Redentor?", "Você sabe onde fica a farmácia?",
    "como faço para cancelar a minha assinatura", "É possível pagar com cartão de crédito?",
    # Dutch
    "Waar is het dichtstbijzijnde treinstation?", "Hoe kan ik mijn wachtwoord wijzigen?",
    "Wat is het verschil tussen een huurhuis en een koophuis?", "Hoe laat gaat de winkel open?",
    "Waarom is mijn internet zo traag?", "hoe kan ik mijn bestelling annuleren",
    # Russian
    "Где находится ближайшая станция метро?", "Как сбросить пароль от моего аккаунта?",
    "Сколько стоит билет до Москвы?", "Почему мой ноутбук так сильно греется?",
    "Во сколько открывается почта в субботу?", "Кто написал роман «Война и мир»?",
    "как отменить подписку", "Можно ли оплатить картой?",
    # Ukrainian
    "Де знаходиться найближча аптека?", "Як змінити пароль до мого облікового запису?",
    "Скільки коштує квиток до Києва?",
    # Chinese
    "最近的地铁站在哪里？", "我怎么重置我的密码？", "去上海的火车票多少钱？", "为什么我的手机充不进电？",
    "这家店周末几点开门？", "怎么取消我的订单", "北京今天的天气怎么样？", "学中文最好的方法是什么？",
    # Japanese
    "一番近い駅はどこですか？", "パスワードをリセットするにはどうすればいいですか？", "東京までの切符はいくらですか？",
    "このお店は何時に閉まりますか？", "なぜパソコンがこんなに遅いのですか？", "注文をキャンセルできますか",
    "日本語を勉強するのにおすすめの本はありますか？",
    # Korean
    "가장 가까운 지하철역이 어디예요?", "비밀번호를 어떻게 재설정하나요?", "서울까지 기차표가 얼마예요?",
    "이 가게는 몇 시에 문을 닫아요?", "주문을 취소할 수 있나요?", "왜 제 휴대폰이 이렇게 느려요?",
    # Arabic
    "أين أقرب محطة قطار؟", "كيف يمكنني تغيير كلمة المرور؟", "كم سعر تذكرة الحافلة إلى دبي؟",
    "متى تفتح الصيدلية يوم الجمعة؟", "لماذا هاتفي بطيء جدا؟", "هل يمكنني الدفع بالبطاقة؟",
    # Hindi
    "सबसे नज़दीकी रेलवे स्टेशन कहाँ है?", "मैं अपना पासवर्ड कैसे बदलूँ?", "दिल्ली का टिकट कितने का है?",
    "मेरा फ़ोन इतना धीमा क्यों है?", "क्या मैं कार्ड से भुगतान कर सकता हूँ?",
    # Greek
    "Πού είναι ο πλησιέστερος σταθμός του μετρό;", "Πώς μπορώ να αλλάξω τον κωδικό μου;",
    "Πόσο κοστίζει ένα εισιτήριο για την Αθήνα;", "Τι ώρα κλείνει το φαρμακείο;",
    # Hebrew
    "איפה תחנת הרכבת הקרובה?", "איך אני משנה את הסיסמה שלי?", "כמה עולה כרטיס לתל אביב?",
    # Thai
    "สถานีรถไฟที่ใกล้ที่สุดอยู่ที่ไหน", "ฉันจะเปลี่ยนรหัสผ่านได้อย่างไร", "ตั๋วไปเชียงใหม่ราคาเท่าไหร่",
    # Vietnamese
    "Ga tàu gần nhất ở đâu?", "Làm thế nào để đổi mật khẩu của tôi?", "Vé xe buýt đi Hà Nội giá bao nhiêu?",
    "Tại sao điện thoại của tôi sạc chậm?",
]

# Greetings, thanks and small talk with no question; each is typed in several ways (see greeting_inputs).
GREETINGS_ALONE = [
    "hi", "hello", "hey", "hiya", "yo", "heya", "good morning", "good afternoon", "good evening", "morning",
    "thanks", "thank you", "thanks so much", "thank you so much", "thanks a lot", "thx", "ty", "cheers",
    "ok thanks", "okay thank you", "cool thanks", "great thanks", "awesome thanks", "hello how are you",
    "hi how are you", "hey how are you", "bye", "goodbye", "thanks bye", "nice to meet you", "hi nice to meet you",
    "anyone there", "you there", "hello anyone there", "hey whats up", "lol", "haha", "hmm", "ok", "okay",
    "test", "testing", "good morning how are you", "thanks cheers", "hey hey", "hello hello",
]
GREETING_ENDS = ["", "!", "!!", ".", " :)", "?"]
QUESTION_LIKE = {"how are you", "anyone there", "you there", "whats up"}  # only these take a "?"


def greeting_inputs() -> list[str]:
    """Every greeting of GREETINGS_ALONE in lowercase and capitalised, with each end that fits it."""
    out = []
    for text, end, capital in itertools.product(GREETINGS_ALONE, GREETING_ENDS, (False, True)):
        if end == "?" and not any(text.endswith(q) for q in QUESTION_LIKE):
            continue
        out.append((text[:1].upper() + text[1:] if capital else text) + end)
    return sorted(set(out))


def left_alone_items() -> list[tuple[str, str]]:
    """(input, tag) for every left-alone input, in a fixed order."""
    return [(text, "non_english") for text in NON_ENGLISH] + [(text, "greeting_only") for text in greeting_inputs()]


def split_left_alone(rng: random.Random, train_size: int, valid_size: int, held_out: set[str]
                     ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """round(rate * size) items of each tag for each split, shuffled and dealt: valid first, then train (no
    item in both, nor the same item in another case: "Good evening!!" and "good evening!!"; no item of the
    held-out benchmarks in train). A train split larger than the lists allow gets all that is left: each input
    appears once in the data."""
    train, valid = [], []
    for tag, rate in LEFT_ALONE_RATES.items():
        items = [item for item in left_alone_items() if item[1] == tag]
        rng.shuffle(items)
        n_valid, n_train = round(rate * valid_size), round(rate * train_size)
        if n_valid >= len(items):
            raise SizeError(f"{len(items)} {tag} items for {n_valid} in valid")
        kept_out = held_out | {held_out_key(text) for text, _ in items[:n_valid]}
        rest = [item for item in items[n_valid:] if held_out_key(item[0]) not in kept_out]
        valid += items[:n_valid]
        train += rest[:n_train]  # every item once: a train split too large for the lists gets fewer
    return train, valid
