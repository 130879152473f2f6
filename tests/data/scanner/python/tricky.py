"""Pins the Python scanner's hard cases; bench/scanner/python_accuracy.py checks it against ast."""
import os

s = """
def in_triple_string(): pass
"""
t = '''x\''' def no(): pass
'''
u = 'it\'s' ; v = "a#b"  # def in_comment():
w = rb'\\' + "\
def in_continued_string(): pass"
x = Rb"""
class InBytes: pass"""
a = f"{x!r} {{literal}} {os.sep:>{10}} {s:'>10} {'def'}"
b = f"""{
    'def in_fstring_field(): pass'
}"""
c = F"{f'{a}'}" + fR'{b}\n' + rf"}}" + Fr'{{'
d = [1, 2,
(def_ := 3), (
lambda: 4)]
e = 1 + \
    2


@decorator(
    1,
    2,
)
def decorated(a,
              b=(1, 2)):
    def inner(): pass
    class InnerClass:
        def m(self): pass
    return a


async def coroutine(): return await x


class Meta(type): pass
class WithBases(
    Meta,
    metaclass=Meta,
):
    """doc"""

    x = 1; y = 2
    @property
    def prop(self): return self.x

    @prop.setter
    async def prop(self, v): pass
    if True:
        def conditional(self): pass
    class Nested:
        def nested_method(self): pass
    def after_nested(self):
        def local(): pass
        return local
# comment at column 0 inside the class body
    def after_comment(self): pass

if __name__ == "__main__":
    def guarded(): pass
try:
    import x
except ImportError:
    def fallback(): pass
match x:
    case [1, 2]:
        def in_case(): pass
    case _:
        pass
match = 1
case = [match]
def match(): pass
class case: pass
async \
  def continued(): pass
