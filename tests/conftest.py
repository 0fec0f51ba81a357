import os
import sys

# plan_factory and other test helpers live beside the tests
sys.path.insert(0, os.path.dirname(__file__))
