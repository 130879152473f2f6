def café(): pass
class Été:
    def 日本(self): pass
def ﬁnd(): pass
class Åx:
    def m(self): pass
