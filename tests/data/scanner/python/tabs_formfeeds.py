class Tabs:
	def a(self):
		pass

	def b(self): pass
class FormFeed:
        def c(self): pass

def d(): pass
