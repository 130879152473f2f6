# coding: latin-1
s = 'café'  # é
class A:
    def m(self):
        return '''
def no(): pass
'''
    def n(self): pass
def f(): pass
