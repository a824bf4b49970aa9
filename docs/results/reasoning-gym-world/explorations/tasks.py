"""Task definitions: library knobs per level + prompt shortening rules."""
import re

def _after(s, sep):
    return s.split(sep, 1)[1]

def sh_chain_sum(q):          # 'State the final answer to the following arithmetic problem: 4 - 1 - 7 ='
    return _after(q, "problem: ").strip()
def sh_products(q):           # 'Solve the following multiplication: 18 * 43. Give only the result ...'
    return re.search(r"multiplication: (.*?)\. Give", q).group(1) + " ="
def sh_basic_arith(q):        # 'Calculate 5 - 3 - 6.'
    return re.fullmatch(r"Calculate (.*)\.", q.strip()).group(1) + " ="
def sh_gcd(q):                # 'Find the Greatest Common Divisor (GCD) of these numbers: 4, 16. Give only ...'
    return "GCD of " + re.search(r"numbers: (.*?)\. Give", q).group(1) + "?"
def sh_lcm(q):                # 'Find the Least Common Multiple (LCM) of these numbers: 98, 58'
    return "LCM of " + _after(q, "numbers: ").strip() + "?"
def sh_count_bits(q):         # 'How many 1 bits are there in the binary representation of the number 3?'
    return "1 bits in " + re.search(r"the number (\d+)\?", q).group(1) + "?"
def sh_spell_backward(q):     # 'Spell this word backward (example: sun -> nus): hay'
    return "Spell backward: " + _after(q, "nus): ").strip() + " ->"
def sh_letter_counting(q):    # 'How many times does the letter "h" appear in the text: "hundred"?'
    m = re.search(r'the letter "(.)" appear in the text: "(.*)"\?', q, re.S)
    return f'"{m.group(1)}" in "{m.group(2)}"?'
def sh_leg_counting(q):       # '...if you have 3 woodlouses, 1 leech?\n'
    return "Legs: " + re.search(r"if you have (.*)\?", q).group(1) + "?"
def sh_base_conversion(q):    # '...Now, convert the base-11 number 4 to base-15\n'
    m = re.search(r"Now, convert the (.*?) number (\S+) to (.*)$", q.strip())
    return f"{m.group(1)} {m.group(2)} to {m.group(3)} ="
def sh_simple_equations(q):   # 'Solve for e: 5 - 8*e = -51' (several phrasings; equation after the last ': ')
    eq = q.rsplit(": ", 1)[1].strip()
    m = re.search(r"[a-z]", eq)
    if m is None:             # degenerate library item '0 = 0': dropped
        return None
    var = m.group(0)
    return f"{eq}; {var} ="

TASKS = {
    "chain_sum": (sh_chain_sum, [
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1),
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=2),
        dict(min_terms=2, max_terms=2, min_digits=2, max_digits=2)]),
    "products": (sh_products, [
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1),
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=2),
        dict(min_terms=2, max_terms=2, min_digits=2, max_digits=2)]),
    "gcd": (sh_gcd, [
        dict(min_value=1, max_value=20),
        dict(min_value=1, max_value=100),
        dict(min_value=1, max_value=1000)]),
    "lcm": (sh_lcm, [
        dict(min_value=1, max_value=10),
        dict(min_value=1, max_value=20),
        dict(min_value=1, max_value=50)]),
    "count_bits": (sh_count_bits, [
        dict(min_n=1, max_n=63),
        dict(min_n=1, max_n=1023),
        dict(min_n=1, max_n=65535)]),
    "spell_backward": (sh_spell_backward, [
        dict(min_word_len=5, max_word_len=6),
        dict(min_word_len=7, max_word_len=8),
        dict(min_word_len=9, max_word_len=10)]),
    "letter_counting": (sh_letter_counting, [
        dict(min_words=1, max_words=1),
        dict(min_words=2, max_words=3),
        dict(min_words=4, max_words=6)]),
    "leg_counting": (sh_leg_counting, [
        dict(min_animals=1, max_animals=1, min_instances=1, max_instances=3),
        dict(min_animals=2, max_animals=2, min_instances=1, max_instances=3),
        dict(min_animals=3, max_animals=3, min_instances=1, max_instances=5)]),
    "base_conversion": (sh_base_conversion, [
        dict(min_base=2, max_base=16, min_value=1, max_value=15),
        dict(min_base=2, max_base=16, min_value=1, max_value=63),
        dict(min_base=2, max_base=16, min_value=1, max_value=1000)]),
    "simple_equations": (sh_simple_equations, [
        dict(min_terms=2, max_terms=2, min_value=1, max_value=10),
        dict(min_terms=2, max_terms=3, min_value=1, max_value=30),
        dict(min_terms=3, max_terms=4, min_value=1, max_value=100)]),
    "basic_arithmetic": (sh_basic_arith, [
        dict(min_terms=2, max_terms=2, min_digits=1, max_digits=1, allow_parentheses=False, allow_negation=False),
        dict(min_terms=3, max_terms=3, min_digits=1, max_digits=1, allow_parentheses=False, allow_negation=False),
        dict(min_terms=3, max_terms=4, min_digits=1, max_digits=2, allow_parentheses=True, allow_negation=True)]),
}

def sh_caesar_cipher(q):      # 'Decrypt this Caesar cipher text: XFMM. Provide only the decrypted text as your final answer.'
    return "Decrypt: " + re.search(r"cipher text: (.*)\. Provide only", q, re.S).group(1) + " ->"

TASKS["caesar_cipher"] = (sh_caesar_cipher, [
    dict(min_words=1, max_words=1, min_rotation=1, max_rotation=1),
    dict(min_words=2, max_words=2, min_rotation=1, max_rotation=1),
    dict(min_words=1, max_words=2, min_rotation=1, max_rotation=3)])
